//! Which callback a request is: the parsed `callback_id`, and the response types this CyberApp answers with.
//!
//! The trailing `.vMAJOR.MINOR` of a custom callback id changes with every CyberApp version the vendor
//! publishes (acgw-protocol.md §9.12 saw `.v1.50` … `.v1.96` on one app), so a handler that compared whole ids
//! would stop working on the next release. We match on the stable part instead: the segment after the last
//! `~`, without its version. Nothing else in the example looks at raw callback ids.

/// The CyberApp code (`<vendor>.<app>`, Vendor Portal > SETTINGS). A vendor copying this example changes this.
pub const APP_CODE: &str = "vendor.app";

/// The callbacks this handler implements, by their stable name `APP_CODE.<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    UsersRead,
    UserCreate,
    UserDelete,
    UserResetPassword,
    TenantInfo,
    /// Test-only: answers whatever its payload asks for (see `fault.rs`).
    Fault,
}

impl Callback {
    /// The callback a `context.callback_id` names, or `None` when this handler does not implement it (another
    /// app's callback, a standard Acronis one, or not a derived CTI at all).
    pub fn from_id(callback_id: &str) -> Option<Self> {
        let code = stable_name(callback_id)?.strip_prefix(APP_CODE)?.strip_prefix('.')?;
        Some(match code {
            "users_read" => Self::UsersRead,
            "user_create" => Self::UserCreate,
            "user_delete" => Self::UserDelete,
            "user_reset_password" => Self::UserResetPassword,
            "tenant_info" => Self::TenantInfo,
            "fault" => Self::Fault,
            _ => return None,
        })
    }
}

/// The stable part of a callback id: `cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v1.7` →
/// `vendor.app.users_read`. `None` when the id has no `~` or its last segment carries no version.
pub fn stable_name(callback_id: &str) -> Option<&str> {
    let (_base, segment) = callback_id.rsplit_once('~')?;
    // CTI versions are `v<major>` plus up to two numeric components (the Postman regex, §11.1).
    let mut rest = segment;
    for _ in 0..2 {
        match rest.rsplit_once('.') {
            Some((head, number)) if is_number(number) => rest = head,
            _ => break,
        }
    }
    let (name, major) = rest.rsplit_once('.')?;
    let is_version = major.strip_prefix('v').is_some_and(is_number);
    (is_version && !name.is_empty()).then_some(name)
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The full CTI of one of this app's responses, e.g. `users_read_ok` →
/// `cti.a.p.acgw.response.v1.0~vendor.app.users_read_ok.v1.0`. ACGW accepts only the response types configured
/// for the callback in the Vendor Portal (§11.3), so these must match what the portal shows, character for
/// character.
pub fn response_type(response: &str) -> String {
    format!("cti.a.p.acgw.response.v1.0~{APP_CODE}.{response}.v1.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stable_name_drops_the_base_and_the_trailing_version() {
        assert_eq!(stable_name("cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v1.7"), Some("vendor.app.users_read"));
        assert_eq!(
            stable_name("cti.a.p.acgw.callback.v2.0~vendor.app.users_read.v1.96"),
            Some("vendor.app.users_read")
        );
        assert_eq!(stable_name("cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v2"), Some("vendor.app.users_read"));
        assert_eq!(
            stable_name("cti.a.p.acgw.callback.v1.0~vendor.app.users_read.v1.2.3"),
            Some("vendor.app.users_read")
        );
    }

    #[test]
    fn an_id_without_a_derived_segment_or_a_version_has_no_stable_name() {
        for id in [
            "",
            "vendor.app.users_read.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.app.users_read",
            "cti.a.p.acgw.callback.v1.0~vendor.app.users_read.1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.app.users_read.vx.0",
            "cti.a.p.acgw.callback.v1.0~v1.0",
            "cti.a.p.acgw.callback.v1.0~",
        ] {
            assert_eq!(stable_name(id), None, "{id}");
        }
    }

    #[test]
    fn every_callback_is_found_whatever_its_version() {
        let cases = [
            ("users_read", Callback::UsersRead),
            ("user_create", Callback::UserCreate),
            ("user_delete", Callback::UserDelete),
            ("user_reset_password", Callback::UserResetPassword),
            ("tenant_info", Callback::TenantInfo),
            ("fault", Callback::Fault),
        ];
        for (code, callback) in cases {
            for version in ["v1.0", "v1.7", "v2.0"] {
                let id = format!("cti.a.p.acgw.callback.v1.0~vendor.app.{code}.{version}");
                assert_eq!(Callback::from_id(&id), Some(callback), "{id}");
            }
        }
    }

    #[test]
    fn another_apps_or_an_unknown_callback_is_not_ours() {
        for id in [
            "cti.a.p.acgw.callback.v1.0~other.app.users_read.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.application.users_read.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.app.users_write.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.app.users_read_all.v1.0",
            "cti.a.p.acgw.callback.v1.0~vendor.appusers_read.v1.0",
            "cti.a.p.acgw.callback.v2.0~a.p.partner.mirroring.enable.v1.0",
        ] {
            assert_eq!(Callback::from_id(id), None, "{id}");
        }
    }

    #[test]
    fn response_types_are_full_ctis_of_this_app() {
        assert_eq!(response_type("users_read_ok"), "cti.a.p.acgw.response.v1.0~vendor.app.users_read_ok.v1.0");
    }
}
