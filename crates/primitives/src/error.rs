//! Printing an error with its causes, for operators: each crate's Display says what failed and
//! holds the cause as `source()` without repeating its text, so whoever prints an error for a
//! person (the CLI's `error:` line, the audit log) prints the chain.

use std::error::Error;
use std::fmt;

/// Displays an error and its sources on one line: `what failed: cause: root cause`.
///
/// A source whose text is already on the line is skipped (some libraries print their cause in
/// their own Display too), so nothing is printed twice.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = cause.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Self>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|s| s as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> Layer {
        let mut layer = None;
        for text in texts.iter().rev() {
            layer = Some(Layer {
                text,
                source: layer.map(Box::new),
            });
        }
        layer.unwrap()
    }

    #[test]
    fn prints_every_cause_in_order() {
        let e = chain(&[
            "rename /d/keys.cachet failed",
            "No space left on device (os error 28)",
        ]);
        assert_eq!(
            Chain(&e).to_string(),
            "rename /d/keys.cachet failed: No space left on device (os error 28)"
        );
        let e = chain(&["unlocking failed", "read /k failed", "permission denied"]);
        assert_eq!(
            Chain(&e).to_string(),
            "unlocking failed: read /k failed: permission denied"
        );
    }

    #[test]
    fn prints_a_lone_error_as_its_display() {
        let e = chain(&["the devp2p service has stopped"]);
        assert_eq!(Chain(&e).to_string(), "the devp2p service has stopped");
    }

    #[test]
    fn skips_a_cause_already_on_the_line_and_empty_causes() {
        let e = chain(&["io error: disk full", "disk full", "", "firmware bug"]);
        assert_eq!(Chain(&e).to_string(), "io error: disk full: firmware bug");
    }
}
