//! Who a caller is: roles and the claims of an access token. The auth domain signs these
//! claims; the API verifies them. Both sides share this one definition.

use serde::{Deserialize, Serialize};

/// A role. What each may do is decided per route by the API (and listed with its permissions
/// in the auth schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Buys: own carts, checkouts, orders, profile.
    Customer,
    /// Manages one vendor's products, stock and orders (`vendor_id` in the token).
    VendorAdmin,
    /// Operates the marketplace.
    Staff,
    /// Staff, plus roles and signing keys.
    SuperAdmin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Customer,
        Role::VendorAdmin,
        Role::Staff,
        Role::SuperAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::VendorAdmin => "vendor_admin",
            Role::Staff => "staff",
            Role::SuperAdmin => "super_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles that reach `/v1/admin/...`.
    pub fn is_operator(self) -> bool {
        matches!(self, Role::Staff | Role::SuperAdmin)
    }
}

/// The claims of an access token (a short-lived RS256 JWT; the signing key's id is the
/// header's `kid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token.
    pub jti: String,
    pub roles: Vec<Role>,
    /// For vendor admins: the vendor they manage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// How the sign-in was authenticated (`pwd`, then `otp` with a second factor).
    #[serde(default)]
    pub amr: Vec<String>,
    /// The sign-in (refresh-token family) the token belongs to: logging out ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Who a client is for counting (rate limits, failed sign-ins): its IPv4 address, or the /64
/// of its IPv6 address (one subscriber usually holds a whole /64, so counting single IPv6
/// addresses would give a guesser a fresh count per try). Anything else is kept as it is.
pub fn client_key(ip: &str) -> String {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.trim().to_string(),
    }
}

/// Where the auth domain publishes, for the edge to check on every request, that a user's
/// tokens issued before a moment are revoked (blocked, roles changed, password reset): the
/// value is that moment in Unix seconds; tokens with an earlier `iat` are refused.
pub fn revoked_user_key(prefix: &str, user_id: &str) -> String {
    format!("{prefix}auth:revoked:user:{user_id}")
}

/// Where the auth domain publishes that a sign-in (`sid`) was ended (logout, reuse of a
/// refresh token): its tokens are refused.
pub fn revoked_session_key(prefix: &str, sid: &str) -> String {
    format!("{prefix}auth:revoked:session:{sid}")
}

/// The first second whose tokens survive a revocation at `at` (Unix seconds, fractional):
/// every token issued up to `at` has an `iat` below it. The auth domain dates the tokens it
/// issues after a revocation no earlier than this.
pub fn revocation_watermark(at_millis: i64) -> i64 {
    at_millis.div_euclid(1000) + 1
}

/// Whether a token issued at `iat` falls under a user's revocation watermark.
pub fn revoked_by_watermark(iat: i64, watermark: Option<i64>) -> bool {
    watermark.is_some_and(|w| iat < w)
}

impl AccessClaims {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Password rules: 10 to 128 characters, not the e-mail address.
pub fn check_password(password: &str, email: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 10 {
        return Err("a password has at least 10 characters");
    }
    if n > 128 {
        return Err("a password has at most 128 characters");
    }
    if password.eq_ignore_ascii_case(email.trim()) {
        return Err("the password must not be the e-mail address");
    }
    Ok(())
}

/// Whether `s` can name an audit event (`login`, `role_granted`, `checkout.cancel`, ...): 1 to
/// 64 lower case ASCII letters, `_` and `.`.
pub fn is_audit_event(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_event_names_are_lower_case_words() {
        for s in [
            "login",
            "role_granted",
            "checkout.cancel",
            "a".repeat(64).as_str(),
        ] {
            assert!(is_audit_event(s), "{s:?}");
        }
        for s in ["", "Login", "a b", "a\0", "a1", "a".repeat(65).as_str()] {
            assert!(!is_audit_event(s), "{s:?}");
        }
    }

    #[test]
    fn roles_round_trip_and_serialise_snake_case() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            serde_json::to_string(&Role::VendorAdmin).unwrap(),
            "\"vendor_admin\""
        );
        assert!(Role::Staff.is_operator() && !Role::VendorAdmin.is_operator());
    }

    #[test]
    fn passwords_need_length_and_must_not_be_the_email() {
        assert!(check_password("short", "a@b.co").is_err());
        assert!(check_password("ann@example.com", "Ann@Example.com").is_err());
        assert!(check_password(&"x".repeat(129), "a@b.co").is_err());
        assert!(check_password("correct horse battery", "a@b.co").is_ok());
    }

    #[test]
    fn a_watermark_revokes_every_token_issued_up_to_the_revocation_and_none_after() {
        // Revoked at 1000.4 s: tokens of second 1000 (issued before, or dated after) are out.
        let w = revocation_watermark(1_000_400);
        assert_eq!(w, 1_001);
        assert!(revoked_by_watermark(999, Some(w)));
        assert!(revoked_by_watermark(1_000, Some(w)));
        // A token issued after the revocation is dated no earlier than the watermark.
        assert!(!revoked_by_watermark(w, Some(w)));
        assert!(!revoked_by_watermark(5, None));
        assert_eq!(revocation_watermark(1_000_000), 1_001);
        assert_eq!(revoked_user_key("p:", "u1"), "p:auth:revoked:user:u1");
        assert_eq!(revoked_session_key("p:", "s1"), "p:auth:revoked:session:s1");
    }

    #[test]
    fn clients_are_counted_by_ipv4_address_or_ipv6_64() {
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("unknown"), "unknown");
    }
}
