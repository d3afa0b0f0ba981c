//! Words for people, as the workflows' mails and notes use them.

/// `seconds` for people: `2 days`, `48 hours`, `90 seconds`.
pub fn span(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn durations_read_in_their_largest_whole_unit() {
        assert_eq!(span(172_800), "2 days");
        assert_eq!(span(90_000), "25 hours");
        assert_eq!(span(60), "1 minute");
        assert_eq!(span(90), "90 seconds");
    }
}
