//! Text that reaches a mail or a web page: e-mail addresses and the names, titles and lines
//! people type. One parser for addresses ([`Email`]) and one set of rules for free text
//! ([`line`], [`paragraphs`]), used wherever such text comes in.
//!
//! Refused in free text: control characters (CR and LF in a line; everything but LF and tab
//! in paragraphs), the Unicode line and paragraph separators (U+2028, U+2029, which mail
//! clients render as line breaks), bidirectional overrides and isolates (U+202A–U+202E,
//! U+2066–U+2069, which make text read otherwise than it is stored), zero-width characters,
//! and `<` and `>` (markup).

use serde::{Deserialize, Serialize};

/// Why a text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must have at most {0} characters")]
    TooLong(usize),
    #[error("must not contain line breaks or control characters")]
    Control,
    #[error("must not contain invisible or direction-changing characters")]
    Invisible,
    #[error("must not contain < or >")]
    Markup,
}

fn invisible(c: char) -> bool {
    matches!(c,
        '\u{2028}' | '\u{2029}'               // line and paragraph separators
        | '\u{202A}'..='\u{202E}'             // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}'             // bidi isolates
        | '\u{200B}'..='\u{200F}'             // zero-width characters, LRM, RLM
        | '\u{FEFF}'                          // byte order mark
        | '\u{061C}') // Arabic letter mark
}

fn check(s: &str, max: usize, allow: &[char]) -> Result<String, TextError> {
    // Trimming would drop a trailing separator: look for those in all of it.
    if s.chars().any(invisible) {
        return Err(TextError::Invisible);
    }
    let t = s.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    if t.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    for c in t.chars() {
        if c.is_control() && !allow.contains(&c) {
            return Err(TextError::Control);
        }
        if invisible(c) {
            return Err(TextError::Invisible);
        }
        if c == '<' || c == '>' {
            return Err(TextError::Markup);
        }
    }
    Ok(t.to_string())
}

/// One line of text (a name, a title, an address line): trimmed, 1 to `max` characters.
pub fn line(s: &str, max: usize) -> Result<String, TextError> {
    check(s, max, &[])
}

/// Text of several lines (a product description): trimmed, 1 to `max` characters; line
/// breaks (LF) and tabs are kept, CR LF is taken as LF.
pub fn paragraphs(s: &str, max: usize) -> Result<String, TextError> {
    check(&s.replace("\r\n", "\n"), max, &['\n', '\t'])
}

/// A value put into a mail template: what cannot be refused any more (it was stored) is
/// made harmless: separators and control characters other than LF become spaces, invisible
/// characters go.
pub fn for_mail(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200F}' | '\u{FEFF}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| {
            if c == '\n' {
                c
            } else if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// An e-mail address a mail can be sent to: one mailbox, `local@domain`, nothing else (no
/// display name, no quoted or commented parts, no list). The local part is a dot-atom of
/// letters and digits (of any script) and RFC 5322's printable symbols (at most 64 bytes);
/// the domain is DNS labels of ASCII letters, digits and hyphens (IDNs in their `xn--` form),
/// with a top-level label of letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(pub &'static str);

const ATEXT: &str = "!#$%&'*+/=?^_`{|}~-";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim();
        if email.len() < 3 || email.len() > 254 {
            return Err(EmailError("an e-mail address has 3 to 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(EmailError("an e-mail address needs an @"));
        };
        if domain.contains('@') {
            return Err(EmailError("an e-mail address has one @"));
        }
        if local.is_empty() || local.len() > 64 {
            return Err(EmailError("the part before the @ has 1 to 64 characters"));
        }
        // Letters and digits of any script (internationalised mailboxes, RFC 6531), the
        // printable ASCII symbols of RFC 5322, and nothing invisible.
        let atom_ok = |a: &str| {
            !a.is_empty()
                && a.chars()
                    .all(|c| (c.is_alphanumeric() && !invisible(c)) || ATEXT.contains(c))
        };
        if !local.split('.').all(atom_ok) {
            return Err(EmailError(
                "the part before the @ may hold letters, digits, dots (not two in a row) and !#$%&'*+/=?^_`{|}~-",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(EmailError("the domain is not a domain name"));
        }
        let tld = labels[labels.len() - 1];
        if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(EmailError("the domain is not a domain name"));
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_one_plain_mailbox() {
        for good in [
            "ada@example.com",
            " Ada.Lovelace+shop@Example.CO.uk ",
            "o'brien@example.ie",
            "x_y-z@sub-domain.example.org",
            "adä@example.com",
            "ada@xn--exmple-cua.com",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            Email::parse(" Ada@EXAMPLE.com ").unwrap().as_str(),
            "Ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@example.c0m",
            "\"Ada\" <ada@example.com>",
            "Ada <ada@example.com>",
            "\"ada\"@example.com",
            "a@ex.com,b@ex.com",
            "a@ex.com;b@ex.com",
            "a b@example.com",
            "ada@exa mple.com",
            "ada..l@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "ada@-example.com",
            "ada@example-.com",
            "ada@example.com\r\nBcc: x@y.com",
            "ada(comment)@example.com",
            "ada@[127.0.0.1]",
            "ada\u{200B}@example.com",
            "ada@exämple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
    }

    #[test]
    fn free_text_has_no_breaks_invisible_characters_or_markup() {
        assert_eq!(line("  Ada Lovelace ", 200).unwrap(), "Ada Lovelace");
        assert_eq!(line("Zoë Ødegård-Núñez", 200).unwrap(), "Zoë Ødegård-Núñez");
        for (bad, err) in [
            ("", TextError::Empty),
            ("   ", TextError::Empty),
            ("Ada\nBcc: x", TextError::Control),
            ("Ada\r\nLovelace", TextError::Control),
            ("Ada\u{2028}Your order was cancelled", TextError::Invisible),
            ("Ada\u{2029}", TextError::Invisible),
            ("evil\u{202E}gpj.exe", TextError::Invisible),
            ("zero\u{200B}width", TextError::Invisible),
            ("<script>alert(1)</script>", TextError::Markup),
            ("Shirt <b>bold</b>", TextError::Markup),
        ] {
            assert_eq!(line(bad, 200), Err(err), "{bad:?}");
        }
        assert_eq!(line(&"x".repeat(201), 200), Err(TextError::TooLong(200)));
        assert_eq!(
            paragraphs("One.\r\nTwo.\n\tThree.", 100).unwrap(),
            "One.\nTwo.\n\tThree."
        );
        assert_eq!(paragraphs("a\u{2028}b", 100), Err(TextError::Invisible));
        assert_eq!(paragraphs("a\u{0007}b", 100), Err(TextError::Control));
    }

    #[test]
    fn stored_text_is_made_harmless_for_a_mail() {
        assert_eq!(
            for_mail("Ada\u{2028}Lovelace\r\n\u{202E}x\u{200B}y\n2 items"),
            "Ada Lovelace \nxy\n2 items"
        );
    }
}
