//! Words for people, as the workflows' mails and notes use them.

use temporalio_common::error::IncomingError;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_sdk::ActivityExecutionError;

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

/// The failure type name and message of an activity failure, for people: the
/// application failure's own words, not the SDK's wrapper around them. Remote and local activity
/// failures nest the application failure differently, so walk the whole chain.
pub fn failure(err: &ActivityExecutionError) -> (Option<String>, String) {
    let mut cause = err.cause();
    while let Some(c) = cause {
        match c {
            IncomingError::Application(app) => {
                return (app.type_name().map(str::to_string), app.to_string());
            }
            IncomingError::Activity(inner) => cause = inner.cause(),
            other => return (None, other.failure().message.clone()),
        }
    }
    let mut failure = err.failure();
    while let Some(f) = failure {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &f.failure_info
            && !info.r#type.is_empty()
        {
            return (Some(info.r#type.clone()), f.message.clone());
        }
        failure = f.cause.as_deref();
    }
    (None, err.to_string())
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
