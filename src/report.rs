//! How an error is shown to people: the error and each of its causes, on one line,
//! `cannot connect to 127.0.0.1:1234: Connection refused (os error 111)`.
//!
//! Error types here keep their causes as `source()` and leave them out of their own message,
//! so each cause is printed once, by whoever shows the error: `main` for the command's result,
//! a log line or a client message elsewhere.

use std::error::Error;
use std::fmt;

/// Displays an error followed by its causes, separated by `: `.
pub struct Chain<'a>(pub &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the door")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn each_cause_is_shown_once_in_order() {
        let e = Outer(std::io::Error::other("the key broke"));
        assert_eq!(Chain(&e).to_string(), "cannot open the door: the key broke");
        let leaf = std::io::Error::other("alone");
        assert_eq!(Chain(&leaf).to_string(), "alone");
    }
}
