//! The client's `stream` thread: plays the frames the server sends, in an OpenCV window
//! titled `Streaming : NAME` (press `q` to stop), drawn in the terminal (`--render terminal`,
//! see `blocks.rs`) or headless with progress lines, saves them with `--save-frames`, and
//! prints the summary line when the stream ends. The only code that touches `highgui`. One thread serves every stream of the session: the original's receive
//! thread ended after the first stream, so a user never got a second one.

use crossbeam_channel::Receiver;
use opencv::core::{Mat, MatTrait, MatTraitConst, MatTraitConstManual, Point, Rect, Scalar, Size};
use opencv::{highgui, imgproc};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::blocks::{self, Canvas, Colors};
use super::link::LinkWriter;
use super::menu;
use super::screen;
use crate::cmd;
use crate::report::Chain;
use crate::say;
use crate::video::VideoError;
use crate::video::opencv::{decode_jpeg, quiet_opencv_logs};
use crate::wire::{EndReason, Segment, ServerMsg};

/// Every frame is shown at this size, whatever its resolution, so a resolution switch does
/// not make the window jump.
const WINDOW_SIZE: (i32, i32) = (640, 360);
/// Headless progress lines come at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What `recv_chat` hands the player.
#[derive(Debug, PartialEq)]
pub enum Feed {
    /// A stream's start, one of its frames, or its end.
    Server(ServerMsg),
    /// The connection was lost (and is being made again, `--reconnect`): the stream playing,
    /// if any, is over; the server that comes back knows nothing of it.
    Lost,
}

/// What the player tells the `send_chat` thread.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Started,
    Ended,
}

/// Where frames are shown (`--render`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Render {
    /// A window if there is a display, else the terminal if stdout is one, else headless.
    #[value(skip)]
    Auto,
    /// An OpenCV window.
    Window,
    /// Half blocks in the terminal.
    Terminal,
    /// Progress lines only (`--headless`).
    #[value(skip)]
    Headless,
}

/// How the player shows and keeps frames.
pub struct PlayerConfig {
    pub render: Render,
    pub save_frames: Option<PathBuf>,
    /// To send `STOP` when `q` is pressed in the window.
    pub writer: LinkWriter,
    /// The exit code, when the client ends: this thread ends the process (see `Player::exit`).
    pub exit: Receiver<i32>,
}

/// `Stream ended: N frames (144p: a, 360p: b, ...)`, with the labels in plan order.
pub fn summary_line(counts: &[(String, u32)]) -> String {
    let total: u32 = counts.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = counts.iter().map(|(label, n)| format!("{label}: {n}")).collect();
    format!("Stream ended: {} ({})", menu::count(total, "frame"), parts.join(", "))
}

/// Where a `width` x `height` picture goes in a `frame` (width, height) box: as large as fits,
/// its shape kept, centred.
pub fn fit_in(width: i32, height: i32, frame: (i32, i32)) -> Rect {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let scale = (frame.0 as f64 / w).min(frame.1 as f64 / h);
    let fw = ((w * scale).round() as i32).clamp(1, frame.0);
    let fh = ((h * scale).round() as i32).clamp(1, frame.1);
    Rect::new((frame.0 - fw) / 2, (frame.1 - fh) / 2, fw, fh)
}

/// The file name `--save-frames` gives a frame: `{index:06}_{label}.jpg`.
pub fn frame_file_name(index: u32, label: &str) -> String {
    format!("{index:06}_{label}.jpg")
}

/// Whether `name` is one [`frame_file_name`] gives: six digits, `_`, a label, `.jpg`.
pub fn is_frame_file_name(name: &str) -> bool {
    let (digits, rest) = name.split_at_checked(6).unwrap_or((name, ""));
    digits.len() == 6
        && digits.bytes().all(|b| b.is_ascii_digit())
        && rest
            .strip_prefix('_')
            .and_then(|r| r.strip_suffix(".jpg"))
            .is_some_and(|l| !l.is_empty())
}

/// Makes `dir` ready for a stream's frames: made if missing; if frames of an earlier stream
/// are in it, they are moved into a folder beside it (`DIR.1`, `DIR.2`...), so that a stream's
/// frames are never written over another's, nor mixed with them. Says what it did.
fn prepare_frames_dir(dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return say!("Cannot create {}: {e}", dir.display());
    }
    let earlier: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(is_frame_file_name))
            .map(|e| e.path())
            .collect(),
        Err(e) => return say!("Cannot read {}: {e}", dir.display()),
    };
    if earlier.is_empty() {
        return;
    }
    // Whole, so that `frames/` and `.` have a name to put `.1` after.
    let whole = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let Some(aside) = (1..1000).map(|n| sibling(&whole, n)).find(|p| !p.exists()) else {
        return say!("{} holds frames of an earlier stream; they will be mixed", dir.display());
    };
    let moved = std::fs::create_dir(&aside).and_then(|()| {
        earlier.iter().try_for_each(|from| {
            std::fs::rename(from, aside.join(from.file_name().unwrap_or_default()))
        })
    });
    match moved {
        Ok(()) => say!(
            "Moved {} of an earlier stream from {} to {}.",
            menu::count(earlier.len() as u64, "frame"),
            dir.display(),
            aside.display()
        ),
        Err(e) => say!("Cannot move earlier frames to {}: {e}", aside.display()),
    }
}

/// `DIR.n`, beside `dir`.
fn sibling(dir: &Path, n: u32) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// True if an X display named by `$DISPLAY` accepts connections. Checked before touching
/// `highgui`, because OpenCV's Qt backend aborts the whole process when it cannot connect.
pub fn display_available() -> bool {
    std::env::var_os("DISPLAY")
        .and_then(|d| d.into_string().ok())
        .is_some_and(|d| display_reachable(&d))
}

/// True if the X display `display` (like `:0`, `unix:1.0` or `host:2`) accepts connections.
pub fn display_reachable(display: &str) -> bool {
    let Some((host, rest)) = display.rsplit_once(':') else { return false };
    let Ok(number) = rest.split('.').next().unwrap_or("").parse::<u16>() else { return false };
    if host.is_empty() || host == "unix" {
        #[cfg(unix)]
        {
            let socket = format!("/tmp/.X11-unix/X{number}");
            return std::os::unix::net::UnixStream::connect(socket).is_ok();
        }
        #[cfg(not(unix))]
        return false;
    }
    let addr = format!("{host}:{}", 6000 + u32::from(number));
    std::net::ToSocketAddrs::to_socket_addrs(&addr).ok().and_then(|mut a| a.next()).is_some_and(
        |a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok(),
    )
}

/// The OpenCV window of one stream.
struct Window {
    title: String,
    /// The frame at the size that fits the window.
    fitted: Mat,
    /// What the window shows: the fitted frame on black, with the label drawn on.
    scaled: Mat,
}

impl Window {
    fn open(video: &str) -> opencv::Result<Window> {
        let title = format!("Streaming : {video}");
        // GUI_NORMAL: no toolbar or status bar, so the window is the picture, 640x360.
        highgui::named_window(&title, highgui::WINDOW_AUTOSIZE | highgui::WINDOW_GUI_NORMAL)?;
        Ok(Window { title, fitted: Mat::default(), scaled: Mat::default() })
    }

    /// Shows one frame with its label and the measured frame rate drawn on. True if the user
    /// pressed `q` or closed the window.
    fn show(&mut self, jpeg: &[u8], label: &str, fps: f64) -> Result<bool, VideoError> {
        let image = decode_jpeg(jpeg)?;
        // Fitted whole, its shape kept, on black: a 4:3 video is not stretched to 16:9.
        let fit = fit_in(image.cols(), image.rows(), WINDOW_SIZE);
        imgproc::resize(&image, &mut self.fitted, fit.size(), 0.0, 0.0, imgproc::INTER_LINEAR)?;
        if self.scaled.empty() {
            self.scaled = Mat::new_rows_cols_with_default(
                WINDOW_SIZE.1,
                WINDOW_SIZE.0,
                opencv::core::CV_8UC3,
                Scalar::all(0.0),
            )?;
        } else {
            self.scaled.set_to_def(&Scalar::all(0.0))?;
        }
        let mut area = Mat::roi_mut(&mut self.scaled, fit)?;
        self.fitted.copy_to(&mut area)?;
        let text = format!("{label}  {fps:.1} fps");
        for (color, thickness) in
            [(Scalar::all(0.0), 4), (Scalar::new(255.0, 255.0, 255.0, 0.0), 1)]
        {
            imgproc::put_text(
                &mut self.scaled,
                &text,
                Point::new(12, WINDOW_SIZE.1 - 14),
                imgproc::FONT_HERSHEY_SIMPLEX,
                0.8,
                color,
                thickness,
                imgproc::LINE_AA,
                false,
            )?;
        }
        highgui::imshow(&self.title, &self.scaled)?;
        let key = highgui::wait_key(1)?;
        let closed = highgui::get_window_property(&self.title, highgui::WND_PROP_VISIBLE)
            .map(|v| v < 1.0)
            .unwrap_or(false);
        Ok(key == i32::from(b'q') || key == i32::from(b'Q') || closed)
    }

    fn close(self) {
        let _ = highgui::destroy_window(&self.title);
        // Let the GUI process the close.
        let _ = highgui::wait_key(1);
    }
}

/// The picture drawn in the terminal (`--render terminal`), below which chat goes on. It
/// follows the terminal's size both ways: too small for a picture and the chat rows, it
/// gives the screen back until the terminal is larger again.
struct TermView {
    /// Set at the first frame, when its shape is known.
    canvas: Option<Canvas>,
    colors: Colors,
    screen: (u16, u16),
    /// Whether the picture has the alternate screen.
    taken: bool,
    scaled: Mat,
    /// Frames are drawn at most at the stream's rate (a `--no-pace` server sends faster than
    /// a terminal can draw).
    interval: Duration,
    last_draw: Option<Instant>,
}

/// Rows kept below the picture for chat lines and the prompt.
const CHAT_ROWS: u16 = 6;

/// Whether a terminal of `screen` (columns, rows) has room for a picture and the chat rows.
fn roomy(screen: (u16, u16)) -> bool {
    screen.0 >= 8 && screen.1 >= CHAT_ROWS + 4
}

impl TermView {
    /// `None` if the terminal's size cannot be read.
    fn open(fps: f32) -> Option<TermView> {
        let screen = crossterm::terminal::size().ok()?;
        let colors = Colors::from_colorterm(std::env::var("COLORTERM").ok().as_deref());
        let interval = Duration::from_secs_f32(0.9 / fps.clamp(1.0, 120.0));
        let mut view = TermView {
            canvas: None,
            colors,
            screen,
            taken: false,
            scaled: Mat::default(),
            interval,
            last_draw: None,
        };
        match roomy(screen) {
            true => view.take(screen),
            false => say!("The terminal is too small for the picture: it shows once it is larger."),
        }
        Some(view)
    }

    /// The picture and the chat below it take the alternate screen: nothing on the main
    /// screen scrolls away, and lines said meanwhile are said there again when it is given
    /// back. Until the first frame gives the picture's shape, only the chat rows are set.
    fn take(&mut self, screen: (u16, u16)) {
        screen::begin_picture(&blocks::enter_screen(screen.1 - CHAT_ROWS, screen.1));
        (self.taken, self.screen, self.canvas) = (true, screen, None);
    }

    fn show(&mut self, jpeg: &[u8]) -> Result<(), VideoError> {
        let now = Instant::now();
        if self.last_draw.is_some_and(|t| now.duration_since(t) < self.interval) {
            return Ok(());
        }
        self.last_draw = Some(now);
        let screen = crossterm::terminal::size().unwrap_or(self.screen);
        if !roomy(screen) {
            if self.taken {
                screen::end_picture(blocks::leave_screen());
                (self.taken, self.canvas) = (false, None);
            }
            return Ok(());
        }
        if !self.taken {
            self.take(screen);
        }
        let image = decode_jpeg(jpeg)?;
        if self.canvas.is_none() || screen != self.screen {
            // First frame, or the terminal was resized: lay the screen out again. On a resize
            // every row above the chat rows is blanked: the chat rows stay in view.
            if self.canvas.take().is_some() {
                screen::paint(&blocks::clear_top(screen.1.saturating_sub(CHAT_ROWS)));
            }
            self.screen = screen;
            let (cols, rows) = blocks::fit(
                image.cols() as u32,
                image.rows() as u32,
                screen.0,
                screen.1.saturating_sub(CHAT_ROWS).max(1),
            );
            screen::paint(&blocks::open_region(rows, screen.1));
            self.canvas = Some(Canvas::new(cols, rows, self.colors));
        }
        let Some(canvas) = self.canvas.as_mut() else { return Ok(()) };
        let (cols, rows) = canvas.size();
        let size = Size::new(i32::from(cols), 2 * i32::from(rows));
        imgproc::resize(&image, &mut self.scaled, size, 0.0, 0.0, imgproc::INTER_AREA)?;
        if let Some(cells) = blocks::cells(self.scaled.data_bytes()?, cols, rows, true) {
            screen::paint(&canvas.draw(&cells));
        }
        Ok(())
    }

    /// Gives the main screen back, as it was, with the lines said during the stream said
    /// again below it: the picture goes with the alternate screen.
    fn close(self) {
        if self.taken {
            screen::end_picture(blocks::leave_screen());
        }
    }

    /// As `close`, at once, straight to the terminal: the process is ending.
    fn close_now(self) {
        if self.taken {
            screen::end_picture_now(blocks::leave_screen());
        }
    }
}

/// Where one stream's frames go.
enum View {
    Headless,
    Window(Window),
    Terminal(TermView),
}

impl View {
    fn close(self) {
        match self {
            View::Headless => {}
            View::Window(w) => w.close(),
            View::Terminal(t) => t.close(),
        }
    }
}

/// One stream being played.
struct Playing {
    video: String,
    total: u32,
    counts: Vec<(String, u32)>,
    view: View,
    started: Instant,
    last_progress: Instant,
    /// Frames shown in the last second, for the fps drawn on the window.
    recent: std::collections::VecDeque<Instant>,
    stop_sent: bool,
    /// The labels of the announced plan: the only ones `--save-frames` writes.
    planned: Vec<String>,
    /// Bytes written by `--save-frames` for this stream.
    saved: u64,
}

/// The most bytes `--save-frames` writes for one stream: a hostile server cannot fill the disk.
const SAVE_BUDGET: u64 = 512 * 1024 * 1024;

impl Playing {
    /// Whether `--save-frames` may write this frame: its label is one of the announced plan's
    /// and looks like a label (`360p`, so the file name stays in the folder), its index is on
    /// the announced timeline, and the stream's budget has room. Anything else a server sends
    /// is shown, never written.
    fn may_save(&mut self, index: u32, label: &str, bytes: usize) -> bool {
        let planned = self.planned.iter().any(|l| l == label) && is_label(label);
        let room = self.saved + bytes as u64 <= SAVE_BUDGET;
        if planned && index < self.total && room {
            self.saved += bytes as u64;
            return true;
        }
        false
    }
}

/// `144p`, `1080p`: digits, then `p`, at most `MAX_LABEL` bytes.
fn is_label(label: &str) -> bool {
    label.len() <= crate::wire::MAX_LABEL
        && label
            .strip_suffix('p')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Runs the `stream` thread until the connection ends (its channel closes). `notify` hears
/// when each stream starts and ends.
pub fn run(frames: Receiver<Feed>, mut notify: impl FnMut(StreamEvent), config: PlayerConfig) {
    quiet_opencv_logs();
    let mut player = Player { playing: None, warned_save: false };
    let mut frames = frames;
    loop {
        crossbeam_channel::select! {
            recv(frames) -> msg => match msg {
                Ok(Feed::Server(msg)) => player.handle(msg, &config, &mut notify),
                Ok(Feed::Lost) => player.lost(&mut notify),
                // The connection is gone: the exit code comes next.
                Err(_) => frames = crossbeam_channel::never(),
            },
            recv(config.exit) -> code => player.exit(code.unwrap_or(1)),
        }
    }
}

/// The `stream` thread's state: the stream playing, if any.
struct Player {
    playing: Option<Playing>,
    warned_save: bool,
}

impl Player {
    fn handle(
        &mut self,
        msg: ServerMsg,
        config: &PlayerConfig,
        notify: &mut impl FnMut(StreamEvent),
    ) {
        match msg {
            ServerMsg::StreamStart { video, frames, fps, plan } => {
                if let Some(old) = self.playing.take() {
                    finish(old, None);
                }
                self.playing = Some(start(config, video, frames, fps, &plan));
                notify(StreamEvent::Started);
            }
            ServerMsg::Frame { index, label, jpeg } => {
                let Some(p) = self.playing.as_mut() else { return };
                if let Some(dir) = &config.save_frames
                    && p.may_save(index, &label, jpeg.len())
                    && let Err(e) = std::fs::write(dir.join(frame_file_name(index, &label)), &jpeg)
                    && !self.warned_save
                {
                    say!("Cannot save frames in {}: {e}", dir.display());
                    self.warned_save = true;
                }
                match p.counts.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, n)) => *n += 1,
                    None => p.counts.push((label.clone(), 1)),
                }
                let received: u32 = p.counts.iter().map(|(_, n)| n).sum();
                show(p, config, index, &label, &jpeg, received);
            }
            ServerMsg::StreamEnd { sent, reason } => {
                if let Some(p) = self.playing.take() {
                    finish(p, Some((sent, reason)));
                }
                notify(StreamEvent::Ended);
            }
            _ => {}
        }
    }

    /// The connection is gone: the stream playing, if any, ends with what arrived.
    fn lost(&mut self, notify: &mut impl FnMut(StreamEvent)) {
        if let Some(p) = self.playing.take() {
            say!("The connection to the server was lost: the stream ended.");
            finish(p, None);
            notify(StreamEvent::Ended);
        }
    }

    /// Ends the process from this thread. OpenCV's window (Qt) belongs to this thread, and
    /// `process::exit` runs the libraries' clean-up on the thread that calls it: from another
    /// thread, Qt complained ("Timers cannot be stopped from another thread") and sometimes
    /// crashed.
    fn exit(&mut self, code: i32) -> ! {
        match self.playing.take().map(|p| p.view) {
            Some(View::Terminal(view)) => view.close_now(),
            Some(view) => view.close(),
            None => {}
        }
        screen::restore_terminal();
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::process::exit(code)
    }
}

/// Opens what `render` asks for, or says why it plays headless instead.
fn open_view(render: Render, video: &str, fps: f32) -> View {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let window = match render {
        Render::Headless => return View::Headless,
        Render::Window => true,
        Render::Terminal => false,
        Render::Auto => display_available() || !tty,
    };
    if window {
        if !display_available() {
            say!("No display available: playing headless.");
            return View::Headless;
        }
        return match Window::open(video) {
            Ok(w) => View::Window(w),
            Err(e) => {
                say!("Cannot open a video window ({e}): playing headless.");
                View::Headless
            }
        };
    }
    if !tty {
        say!("Standard output is not a terminal: playing headless.");
        return View::Headless;
    }
    match TermView::open(fps) {
        Some(view) => View::Terminal(view),
        None => {
            say!("Cannot read the terminal's size: playing headless.");
            View::Headless
        }
    }
}

fn start(config: &PlayerConfig, video: String, total: u32, fps: f32, plan: &[Segment]) -> Playing {
    let counts: Vec<(String, u32)> = plan.iter().map(|s| (s.label.clone(), 0)).collect();
    if let Some(dir) = &config.save_frames {
        prepare_frames_dir(dir);
    }
    let view = open_view(config.render, &video, fps);
    say!(
        "Playing {video}: {total} frames at {fps:.1} fps ({})",
        crate::video::catalog::describe_plan(plan)
    );
    if let View::Window(_) = view {
        say!("Press q in the video window to stop.");
    } else {
        say!("Type q and Enter to stop.");
    }
    let now = Instant::now();
    Playing {
        video,
        total,
        counts,
        view,
        started: now,
        last_progress: now,
        recent: Default::default(),
        stop_sent: false,
        planned: plan.iter().map(|s| s.label.clone()).collect(),
        saved: 0,
    }
}

fn show(
    p: &mut Playing,
    config: &PlayerConfig,
    index: u32,
    label: &str,
    jpeg: &[u8],
    received: u32,
) {
    let now = Instant::now();
    p.recent.push_back(now);
    while p.recent.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1)) {
        p.recent.pop_front();
    }
    let fps = p.recent.len() as f64 / now.duration_since(p.started).as_secs_f64().clamp(0.001, 1.0);
    let shown = match &mut p.view {
        View::Window(window) => match window.show(jpeg, label, fps) {
            Ok(true) if !p.stop_sent => {
                p.stop_sent = true;
                let _ = config.writer.send(&cmd::Stop);
                Ok(())
            }
            other => other.map(|_| ()),
        },
        View::Terminal(view) => view.show(jpeg),
        View::Headless => {
            if now.duration_since(p.last_progress) >= PROGRESS_EVERY {
                p.last_progress = now;
                say!(
                    "Streaming {}: {received}/{} frames ({label}, {fps:.1} fps)",
                    p.video,
                    p.total
                );
            }
            Ok(())
        }
    };
    if let Err(e) = shown {
        say!("Cannot show frame {index}: {}", Chain(&e));
    }
}

fn finish(p: Playing, end: Option<(u32, EndReason)>) {
    p.view.close();
    let received: u32 = p.counts.iter().map(|(_, n)| n).sum();
    match end {
        Some((_, EndReason::Stopped)) => say!("Stream stopped."),
        Some((_, EndReason::Error)) => {
            say!("The server could not read the video; stream cut short.")
        }
        Some((sent, EndReason::Complete)) if sent != received => {
            say!("Warning: the server sent {} but {received} arrived.", menu::count(sent, "frame"))
        }
        _ => {}
    }
    say!("{}", summary_line(&p.counts));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_each_label_in_plan_order() {
        let counts =
            vec![("144p".to_string(), 11), ("240p".to_string(), 10), ("360p".to_string(), 10)];
        assert_eq!(summary_line(&counts), "Stream ended: 31 frames (144p: 11, 240p: 10, 360p: 10)");
        assert_eq!(summary_line(&[("360p".into(), 0)]), "Stream ended: 0 frames (360p: 0)");
        assert_eq!(summary_line(&[("360p".into(), 1)]), "Stream ended: 1 frame (360p: 1)");
    }

    #[test]
    fn only_labels_that_look_like_labels_name_a_file() {
        assert!(is_label("144p") && is_label("1080p"));
        for bad in ["", "p", "360", "../../x", "/etc/p", "12p/..", "１２p", &"9".repeat(20)] {
            assert!(!is_label(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_picture_fits_the_window_with_its_shape_kept() {
        assert_eq!(fit_in(640, 360, (640, 360)), Rect::new(0, 0, 640, 360));
        assert_eq!(fit_in(256, 144, (640, 360)), Rect::new(0, 0, 640, 360));
        // 4:3: bars left and right; very wide: bars above and below.
        assert_eq!(fit_in(192, 144, (640, 360)), Rect::new(80, 0, 480, 360));
        assert_eq!(fit_in(1000, 100, (640, 360)), Rect::new(0, 148, 640, 64));
        assert_eq!(fit_in(0, 0, (640, 360)), Rect::new(140, 0, 360, 360));
    }

    #[test]
    fn saved_frames_are_named_by_index_and_label() {
        assert_eq!(frame_file_name(7, "144p"), "000007_144p.jpg");
        assert_eq!(frame_file_name(123456, "1080p"), "123456_1080p.jpg");
        assert!(is_frame_file_name("000007_144p.jpg"));
        for other in
            ["00007_144p.jpg", "000007_.jpg", "000007_144p.png", "holiday.jpg", "0000é7_x.jpg"]
        {
            assert!(!is_frame_file_name(other), "{other}");
        }
    }

    #[test]
    fn an_unreachable_display_means_headless() {
        assert!(!display_reachable(":987"));
        assert!(!display_reachable("unix:986.0"));
        assert!(!display_reachable("nonsense"));
        assert!(!display_reachable(""));
    }
}
