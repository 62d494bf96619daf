//! A lock taken even after a thread panicked while holding it. Every `Mutex` of this crate
//! guards state that is whole between statements (a map, a counter, a handle), so a panic
//! elsewhere leaves nothing half-written: the next holder takes the data as it is, instead of
//! every later caller panicking in turn (which would take a server down for one bad thread).

use std::sync::{Mutex, MutexGuard, PoisonError};

/// `mutex.lock_anyway()`: the guard, poisoned or not.
pub trait LockAnyway<T> {
    fn lock_anyway(&self) -> MutexGuard<'_, T>;
}

impl<T> LockAnyway<T> for Mutex<T> {
    fn lock_anyway(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::LockAnyway;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_lock_poisoned_by_a_panic_is_still_taken_with_its_data() {
        let shared = Arc::new(Mutex::new(vec![1]));
        let holder = shared.clone();
        let _ = std::thread::spawn(move || {
            let mut data = holder.lock().unwrap();
            data.push(2);
            panic!("a thread panics holding the lock");
        })
        .join();
        assert!(shared.lock().is_err(), "the lock is poisoned");
        assert_eq!(*shared.lock_anyway(), vec![1, 2]);
    }
}
