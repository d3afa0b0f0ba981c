//! Catalog vocabulary.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(ProductStatus::Draft),
            "active" => Some(ProductStatus::Active),
            "archived" => Some(ProductStatus::Archived),
            _ => None,
        }
    }
}

/// Turns a title into a URL slug: lower case ASCII letters and digits joined by '-'.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    let mut dash = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            slug.push(c.to_ascii_lowercase());
            dash = false;
        } else {
            dash = true;
        }
    }
    slug
}

/// The longest slug [`is_slug`] takes.
pub const MAX_SLUG: usize = 200;

/// Whether `s` can be a slug (or a category id, which has the same letters): 1 to
/// [`MAX_SLUG`] lower case ASCII letters, digits and '-'. A lookup by anything else finds
/// nothing without asking the database.
pub fn is_slug(s: &str) -> bool {
    (1..=MAX_SLUG).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_slugify_makes_is_a_slug_and_little_else_is() {
        for title in ["Linen Shirt", "100% Cotton", "  Ä b-C  "] {
            assert!(is_slug(&slugify(title)), "{title}");
        }
        assert!(is_slug("01a23204-459a-7143-840c-350c55f9692a"));
        for s in [
            "",
            "A",
            "a b",
            "a\0b",
            "ä",
            "a".repeat(MAX_SLUG + 1).as_str(),
        ] {
            assert!(!is_slug(s), "{s:?}");
        }
        assert!(is_slug(&"a".repeat(MAX_SLUG)));
    }

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slugify("  Linen Shirt — Sand / M "), "linen-shirt-sand-m");
        assert_eq!(slugify("100% Cotton"), "100-cotton");
    }
}
