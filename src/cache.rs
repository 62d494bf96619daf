//! The shared frame cache: every frame of every resolution file is decoded and JPEG-encoded
//! once, however many clients stream it, and kept as a finished `FRAM` wire frame that each
//! client's writer sends as it is (an `Arc<[u8]>`: shared, never copied). The original
//! re-read and re-encoded every frame for every client.
//!
//! Frames come from *producers*. A producer has one file open and two threads: `decode-...`
//! reads frames in order and `encode-...` JPEG-encodes them, so even one stream keeps both
//! cores busy. A stream asking for a frame takes it from the cache, or waits for the producer
//! about to make it, or starts a producer at that frame (one seek). A producer reads at most
//! `READ_AHEAD` frames past the furthest frame asked of it, and stops at the end of the
//! segment it was started for, at the file's end, or when nobody has asked it for `IDLE`.
//! Eight clients watching the same video therefore share one producer.
//!
//! Memory: the least recently used frames are evicted to keep the cache under its budget
//! (`--cache-mb`), except the frames around a producer's streams: those a stream waits for,
//! those read ahead, and the last few the streams passed, which slightly slower streams of the
//! same producer are about to ask for. That working set, at most `ATTACH_WINDOW + READ_AHEAD`
//! frames a producer, may take the cache over budget; `--cache-mb 0` keeps nothing else.

use crossbeam_channel::{Receiver, Sender, bounded};
use log::{debug, warn};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::report::Chain;
use crate::sync::LockAnyway;
use crate::video::VideoError;
use crate::video::catalog::ResolutionFile;
use crate::video::source::{Engine, JpegEncoder, Picture, Reader};
use crate::wire::{self, EncodedFrame};

/// Frames a producer reads past the furthest one asked of it. Enough to keep the encoder
/// busy while the decoder waits on the disk, small enough to stay a few megabytes at 720p.
const READ_AHEAD: u32 = 8;
/// A stream asking for a frame up to this far past a producer's position waits for that
/// producer rather than starting its own (a seek decodes from the previous key frame).
const ATTACH_WINDOW: u32 = 2 * READ_AHEAD;
/// A producer nobody has asked anything of for this long closes its file and ends.
/// (Long enough for a paced stream to reach a prefetched segment: see `stream.rs`.)
const IDLE: Duration = Duration::from_secs(5);

/// One version of one file: a file replaced in `videos/` has a new size or time, and so new
/// frames.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FileId {
    path: PathBuf,
    bytes: u64,
    modified: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    file: Arc<FileId>,
    index: u32,
}

/// A resolution file as the cache knows it; make one per segment with [`FrameCache::source`].
#[derive(Debug, Clone)]
pub(crate) struct Source {
    file: Arc<FileId>,
    label: String,
}

/// What the cache has done, for logs, tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Frames held now, and their bytes.
    pub frames: usize,
    pub bytes: usize,
    /// Frames decoded and encoded since the start.
    pub encoded: u64,
    /// Frames handed to streams since the start.
    pub served: u64,
    /// Frames evicted to stay under budget.
    pub evicted: u64,
    /// Producers started (each opens a file and seeks once).
    pub producers: u64,
}

/// The cache; clones share it.
#[derive(Clone)]
pub(crate) struct FrameCache {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    budget: usize,
    quality: i32,
    engine: Engine,
    /// The producers' threads, joined by `close`.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    frames: HashMap<Key, Slot>,
    /// Least recently used first: last use → key.
    order: BTreeMap<u64, Key>,
    tick: u64,
    /// Streams waiting on each key: those frames are never evicted.
    pinned: HashMap<Key, usize>,
    producers: Vec<Producer>,
    next_producer: u64,
    /// The first frame a file could not give (a broken or shortened file): asking for it or
    /// a later one is an error rather than a new producer failing the same way.
    failures: HashMap<Arc<FileId>, u32>,
    closed: bool,
    stats: CacheStats,
}

struct Slot {
    frame: EncodedFrame,
    used: u64,
}

struct Producer {
    id: u64,
    file: Arc<FileId>,
    /// The next frame the decoder reads.
    next: u32,
    /// Every frame below this has been through the encoder.
    done: u32,
    /// The producer stops here (the end of the segment it was started for).
    end: u32,
    /// The furthest frame a stream has asked of it, and when.
    wanted: u32,
    asked: Instant,
    /// Still reading; false once the decoder has stopped (the encoder may still be busy).
    decoding: bool,
    /// Streams waiting on one of its frames wait here; the encoder wakes them.
    progress: Arc<Condvar>,
    /// The decoder waits here for streams to ask for more.
    demand: Arc<Condvar>,
}

impl Producer {
    /// Will this producer make frame `index` without another stream's help?
    fn covers(&self, index: u32) -> bool {
        index >= self.done
            && index < self.end
            && (index < self.next || (self.decoding && index < self.next + ATTACH_WINDOW))
    }
}

enum Job {
    Encode(u32, Picture),
    /// Already cached when the decoder got there: only move `done` on.
    Cached(u32),
}

impl FrameCache {
    /// A cache of `budget` bytes of frames decoded by `engine` and encoded at JPEG `quality`.
    pub(crate) fn new(budget: usize, quality: i32, engine: Engine) -> FrameCache {
        FrameCache {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                budget,
                quality,
                engine,
                threads: Mutex::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn source(file: &ResolutionFile) -> Source {
        let id = FileId { path: file.path.clone(), bytes: file.bytes, modified: file.modified };
        Source { file: Arc::new(id), label: file.label.clone() }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let state = self.inner.lock();
        CacheStats { frames: state.frames.len(), ..state.stats }
    }

    /// Frame `index` of `source` as a finished `FRAM` frame. Waits at most `patience` for it
    /// to be made (`Ok(None)` then: ask again, after checking for a stop). `end` is where the
    /// caller's segment ends, so a producer started for it does not read past it.
    pub(crate) fn fetch(
        &self,
        source: &Source,
        index: u32,
        end: u32,
        patience: Duration,
    ) -> Result<Option<EncodedFrame>, VideoError> {
        let deadline = Instant::now() + patience;
        let key = Key { file: source.file.clone(), index };
        let mut state = self.inner.lock();
        loop {
            if let Some(frame) = state.take(&key) {
                return Ok(Some(frame));
            }
            if state.known_bad(&key) {
                return Err(VideoError::Read { path: key.file.path.clone(), position: index });
            }
            if state.closed {
                return Err(VideoError::Unknown("the server is stopping".into()));
            }
            let progress = match state.covering(&key) {
                Some(producer) => {
                    producer.wanted = producer.wanted.max(index);
                    producer.asked = Instant::now();
                    producer.demand.notify_one();
                    producer.progress.clone()
                }
                None => self.start_producer(&mut state, source, index, end)?,
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            *state.pinned.entry(key.clone()).or_default() += 1;
            state =
                progress.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            state.unpin(&key);
        }
    }

    /// Starts making frame `index` of `source` now, if nobody is, so that it is ready when a
    /// stream gets there: a stream calls it ahead of its next segment, whose first frame
    /// costs a seek (decoding from the key frame before it).
    pub(crate) fn prefetch(&self, source: &Source, index: u32, end: u32) -> Result<(), VideoError> {
        let mut state = self.inner.lock();
        let key = Key { file: source.file.clone(), index };
        if !(state.closed
            || state.known_bad(&key)
            || state.covering(&key).is_some()
            || state.frames.contains_key(&key))
        {
            self.start_producer(&mut state, source, index, end)?;
        }
        Ok(())
    }

    /// Stops every producer and waits for their threads (server shutdown).
    pub(crate) fn close(&self) {
        {
            let mut state = self.inner.lock();
            state.closed = true;
            for producer in &state.producers {
                producer.demand.notify_all();
                producer.progress.notify_all();
            }
        }
        let threads = std::mem::take(&mut *self.inner.threads.lock_anyway());
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Registers a producer for `source` from frame `start` and starts its two threads.
    /// Returns the condition its streams wait on.
    fn start_producer(
        &self,
        state: &mut State,
        source: &Source,
        start: u32,
        end: u32,
    ) -> Result<Arc<Condvar>, VideoError> {
        let id = state.next_producer;
        state.next_producer += 1;
        state.stats.producers += 1;
        let progress = Arc::new(Condvar::new());
        state.producers.push(Producer {
            id,
            file: source.file.clone(),
            next: start,
            done: start,
            end,
            wanted: start,
            asked: Instant::now(),
            decoding: true,
            progress: progress.clone(),
            demand: Arc::new(Condvar::new()),
        });
        let file_name = source
            .file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        debug!("producer {id}: {file_name} from frame {start} to {end}");
        // Two decoded frames in flight keep the encoder busy; more would only hold megabytes
        // of raw pixels (a 720p frame is 2.7 MB).
        let (jobs_tx, jobs_rx) = bounded(2);
        let spawned = (|| {
            let (cache, file) = (self.clone(), source.file.clone());
            let decoder = thread::Builder::new()
                .name(format!("decode-{file_name}"))
                .spawn(move || cache.decode(id, file, start, jobs_tx))?;
            let (cache, source) = (self.clone(), source.clone());
            let encoder = thread::Builder::new()
                .name(format!("encode-{file_name}"))
                .spawn(move || cache.encode(id, source, jobs_rx))?;
            Ok::<_, std::io::Error>([decoder, encoder])
        })();
        match spawned {
            Ok(handles) => {
                let mut threads = self.inner.threads.lock_anyway();
                threads.retain(|t| !t.is_finished());
                threads.extend(handles);
                Ok(progress)
            }
            Err(e) => {
                // The decoder may have started: without jobs' receiver it ends at its first frame.
                state.producers.retain(|p| p.id != id);
                Err(VideoError::Io(e))
            }
        }
    }

    /// The decoder thread: reads frames in order while streams want them.
    fn decode(&self, id: u64, file: Arc<FileId>, start: u32, jobs: Sender<Job>) {
        let _stopped = OnDrop(|| {
            let mut state = self.inner.lock();
            if let Some(p) = state.producer(id) {
                p.decoding = false;
                p.progress.notify_all();
            }
        });
        let mut reader = match Reader::open(&file.path, start, self.inner.engine) {
            Ok(reader) => reader,
            Err(e) => return self.fail(&file, start, e),
        };
        let mut index = start;
        loop {
            let cached = {
                let mut state = self.inner.lock();
                loop {
                    if state.closed {
                        return;
                    }
                    let Some(p) = state.producer(id) else { return };
                    if index >= p.end {
                        return;
                    }
                    if index <= p.wanted + READ_AHEAD {
                        break;
                    }
                    if p.asked.elapsed() >= IDLE {
                        debug!("producer {id}: idle at frame {index}");
                        return;
                    }
                    let demand = p.demand.clone();
                    state = demand.wait_timeout(state, IDLE).unwrap_or_else(|p| p.into_inner()).0;
                }
                state.frames.contains_key(&Key { file: file.clone(), index })
            };
            let job = if cached {
                reader.skip().map(|()| Job::Cached(index))
            } else {
                reader.read().map(|m| Job::Encode(index, m))
            };
            let job = match job {
                Ok(job) => job,
                Err(e) => return self.fail(&file, index, e),
            };
            index += 1;
            // Moved on before the frame is queued, so the frame is in the read-ahead (never
            // evicted) from the moment the encoder can insert it.
            if let Some(p) = self.inner.lock().producer(id) {
                p.next = index;
            }
            if jobs.send(job).is_err() {
                return;
            }
        }
    }

    /// The encoder thread: JPEG-encodes the decoder's frames, in order, into the cache.
    fn encode(&self, id: u64, source: Source, jobs: Receiver<Job>) {
        let _gone = OnDrop(|| {
            let mut state = self.inner.lock();
            if let Some(at) = state.producers.iter().position(|p| p.id == id) {
                state.producers.swap_remove(at).progress.notify_all();
            }
        });
        let mut jpeg = JpegEncoder::new(self.inner.quality);
        for job in jobs {
            let (index, frame) = match job {
                Job::Cached(index) => (index, None),
                Job::Encode(index, image) => match jpeg.encode(&image) {
                    Ok(jpeg) => (index, Some(wire::encode_frame(index, &source.label, jpeg))),
                    Err(e) => return self.fail(&source.file, index, e),
                },
            };
            let mut state = self.inner.lock();
            if let Some(frame) = frame {
                state.insert(Key { file: source.file.clone(), index }, frame, self.inner.budget);
            }
            if let Some(p) = state.producer(id) {
                p.done = index + 1;
                p.progress.notify_all();
            }
        }
    }

    /// Records that `file` cannot give frame `at`; streams waiting for it get the error.
    fn fail(&self, file: &Arc<FileId>, at: u32, error: VideoError) {
        warn!("{}", Chain(&error));
        let mut state = self.inner.lock();
        let first = state.failures.entry(file.clone()).or_insert(at);
        *first = (*first).min(at);
        for p in state.producers.iter().filter(|p| p.file == *file) {
            p.progress.notify_all();
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the maps consistent (each change is one statement).
        self.state.lock_anyway()
    }
}

impl State {
    fn producer(&mut self, id: u64) -> Option<&mut Producer> {
        self.producers.iter_mut().find(|p| p.id == id)
    }

    /// The producer that will make this frame, if any.
    fn covering(&mut self, key: &Key) -> Option<&mut Producer> {
        self.producers.iter_mut().find(|p| p.file == key.file && p.covers(key.index))
    }

    /// Has the file already failed to give this frame or an earlier one?
    fn known_bad(&self, key: &Key) -> bool {
        self.failures.get(&key.file).is_some_and(|&at| key.index >= at)
    }

    /// A cached frame, marked as just used.
    fn take(&mut self, key: &Key) -> Option<EncodedFrame> {
        let slot = self.frames.get_mut(key)?;
        self.tick += 1;
        let tick = self.tick;
        let previous = std::mem::replace(&mut slot.used, tick);
        let frame = slot.frame.clone();
        self.order.remove(&previous);
        self.order.insert(tick, key.clone());
        self.stats.served += 1;
        Some(frame)
    }

    fn unpin(&mut self, key: &Key) {
        if let Some(count) = self.pinned.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.pinned.remove(key);
            }
        }
    }

    fn insert(&mut self, key: Key, frame: EncodedFrame, budget: usize) {
        if self.frames.contains_key(&key) {
            return;
        }
        self.tick += 1;
        self.stats.encoded += 1;
        self.stats.bytes += frame.len();
        self.order.insert(self.tick, key.clone());
        self.frames.insert(key, Slot { frame, used: self.tick });
        self.evict(budget);
    }

    /// Evicts least recently used frames until under `budget`, sparing the working set.
    fn evict(&mut self, budget: usize) {
        let mut over = self.stats.bytes.saturating_sub(budget);
        if over == 0 {
            return;
        }
        let mut victims = Vec::new();
        for (&tick, key) in &self.order {
            if over == 0 {
                break;
            }
            if self.in_use(key) {
                continue;
            }
            over = over.saturating_sub(self.frames[key].frame.len());
            victims.push(tick);
        }
        for tick in victims {
            let key = self.order.remove(&tick).expect("listed above");
            let slot = self.frames.remove(&key).expect("order and frames agree");
            self.stats.bytes -= slot.frame.len();
            self.stats.evicted += 1;
        }
    }

    /// Is a stream waiting for this frame, or is it near a producer's streams: read ahead for
    /// them, or just behind the furthest one, where streams a little slower are about to ask?
    fn in_use(&self, key: &Key) -> bool {
        self.pinned.contains_key(key)
            || self.producers.iter().any(|p| {
                p.file == key.file && key.index + ATTACH_WINDOW >= p.wanted && key.index < p.next
            })
    }
}

/// Runs a closure when dropped: the producer threads' clean-up, which must run however they
/// end (a panic included) or the streams waiting on them would wait out their patience.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    //! The bookkeeping alone, with made-up frames: no OpenCV, no threads. The producers are
    //! tested through a real server in tests/cache.rs.
    use super::*;

    fn key(file: &Arc<FileId>, index: u32) -> Key {
        Key { file: file.clone(), index }
    }

    fn file(name: &str) -> Arc<FileId> {
        Arc::new(FileId { path: name.into(), bytes: 1, modified: None })
    }

    fn frame(len: usize) -> EncodedFrame {
        vec![0u8; len].into()
    }

    #[test]
    fn over_budget_the_least_recently_used_frames_go_first() {
        let (f, mut state) = (file("a"), State::default());
        for i in 0..4 {
            state.insert(key(&f, i), frame(100), 300);
        }
        // 400 bytes in a 300-byte budget: frame 0, the oldest, went.
        assert!(!state.frames.contains_key(&key(&f, 0)));
        assert_eq!((state.stats.bytes, state.stats.evicted), (300, 1));
        // Using frame 1 makes frame 2 the oldest.
        assert!(state.take(&key(&f, 1)).is_some());
        state.insert(key(&f, 4), frame(100), 300);
        assert!(state.frames.contains_key(&key(&f, 1)));
        assert!(!state.frames.contains_key(&key(&f, 2)));
        assert_eq!(state.order.len(), state.frames.len());
    }

    #[test]
    fn frames_a_stream_waits_for_or_a_producer_read_ahead_are_kept_over_budget() {
        let (f, mut state) = (file("a"), State::default());
        *state.pinned.entry(key(&f, 0)).or_default() += 1;
        state.producers.push(Producer {
            id: 0,
            file: f.clone(),
            next: 40,
            done: 40,
            end: 100,
            wanted: 36,
            asked: Instant::now(),
            decoding: true,
            progress: Arc::new(Condvar::new()),
            demand: Arc::new(Condvar::new()),
        });
        for i in 0..40 {
            state.insert(key(&f, i), frame(10), 0);
        }
        // Budget 0: everything went but the pinned frame and the producer's working set
        // (from ATTACH_WINDOW behind the furthest request to its read-ahead).
        let mut kept: Vec<u32> = state.frames.keys().map(|k| k.index).collect();
        kept.sort();
        let expected: Vec<u32> = std::iter::once(0).chain(36 - ATTACH_WINDOW..40).collect();
        assert_eq!(kept, expected);
        // Another file's frames are not protected by this producer.
        state.insert(key(&file("b"), 0), frame(10), 0);
        assert!(!state.frames.contains_key(&key(&file("b"), 0)));
        assert_eq!(state.frames.len(), kept.len());
        assert_eq!(state.stats.bytes, state.frames.values().map(|s| s.frame.len()).sum::<usize>());
    }

    #[test]
    fn a_frame_is_stored_once() {
        let (f, mut state) = (file("a"), State::default());
        state.insert(key(&f, 0), frame(10), 1000);
        state.insert(key(&f, 0), frame(10), 1000);
        assert_eq!((state.frames.len(), state.stats.bytes, state.stats.encoded), (1, 10, 1));
    }

    #[test]
    fn a_producer_covers_what_it_is_making_and_a_little_beyond() {
        let producer = |decoding| Producer {
            id: 0,
            file: file("a"),
            next: 20,
            done: 18,
            end: 30,
            wanted: 19,
            asked: Instant::now(),
            decoding,
            progress: Arc::new(Condvar::new()),
            demand: Arc::new(Condvar::new()),
        };
        let p = producer(true);
        assert!(!p.covers(17), "already passed");
        assert!(p.covers(18) && p.covers(19), "in the encoder");
        assert!(p.covers(29), "ahead, within its segment");
        assert!(!p.covers(30), "past its end");
        let stopped = producer(false);
        assert!(stopped.covers(19) && !stopped.covers(20), "a stopped decoder makes nothing new");
    }
}
