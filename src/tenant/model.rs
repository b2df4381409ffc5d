//! Domain types of the tenant record, each parsed once at the service boundary so the store can trust them.

use std::fmt;

use uuid::Uuid;

use super::error::TenantError;

/// An Acronis tenant id: a UUID, kept in its lower-case hyphenated form so that lookups are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcronisTenantId(Uuid);

impl AcronisTenantId {
    /// Parses a tenant id as Acronis sends it (any letter case). `field` names it in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, TenantError> {
        Uuid::try_parse(value).map(Self).map_err(|_| TenantError::InvalidArgument(format!("{field} must be a UUID")))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for AcronisTenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Uuid's Display is the lower-case hyphenated form.
        self.0.fmt(f)
    }
}

/// The "Additional settings" object of an enablement form: a JSON object, stored exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings(String);

impl Settings {
    /// Accepts JSON text that holds an object; anything else is an invalid argument.
    pub fn parse(json: &str) -> Result<Self, TenantError> {
        match serde_json::from_str::<serde_json::Value>(json) {
            Ok(serde_json::Value::Object(_)) => Ok(Self(json.to_owned())),
            _ => Err(TenantError::InvalidArgument("settings must be a JSON object".into())),
        }
    }

    pub fn as_json(&self) -> &str {
        &self.0
    }

    pub fn into_json(self) -> String {
        self.0
    }
}

/// What a change event says happened. The names are part of the event stream's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PartnerEnabled,
    /// An enabled partner's name, settings or data center changed.
    PartnerUpdated,
    PartnerDisabled,
    CustomerDisabled,
    /// A directory organization was mapped to an Acronis partner tenant (mapped enablement).
    PartnerMapped,
    PartnerUnmapped,
    /// A mirrored customer was created or re-enabled.
    CustomerEnabled,
    /// An enabled mirrored customer's name, settings or data center changed.
    CustomerUpdated,
    /// A directory customer organization was mapped to an Acronis customer tenant.
    CustomerMapped,
    CustomerUnmapped,
    OrganizationUpserted,
    OrganizationDeleted,
    CredentialsSet,
}

impl EventKind {
    pub const ALL: [Self; 13] = [
        Self::PartnerEnabled,
        Self::PartnerUpdated,
        Self::PartnerDisabled,
        Self::CustomerDisabled,
        Self::PartnerMapped,
        Self::PartnerUnmapped,
        Self::CustomerEnabled,
        Self::CustomerUpdated,
        Self::CustomerMapped,
        Self::CustomerUnmapped,
        Self::OrganizationUpserted,
        Self::OrganizationDeleted,
        Self::CredentialsSet,
    ];

    /// The kind a stored name stands for; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerEnabled => "partner.enabled",
            Self::PartnerUpdated => "partner.updated",
            Self::PartnerDisabled => "partner.disabled",
            Self::CustomerDisabled => "customer.disabled",
            Self::PartnerMapped => "partner.mapped",
            Self::PartnerUnmapped => "partner.unmapped",
            Self::CustomerEnabled => "customer.enabled",
            Self::CustomerUpdated => "customer.updated",
            Self::CustomerMapped => "customer.mapped",
            Self::CustomerUnmapped => "customer.unmapped",
            Self::OrganizationUpserted => "directory.organization_upserted",
            Self::OrganizationDeleted => "directory.organization_deleted",
            Self::CredentialsSet => "directory.credentials_set",
        }
    }
}

/// Longest accepted tenant name; Acronis names are far shorter, this only bounds storage.
pub const MAX_NAME_LEN: usize = 1024;

/// Longest accepted organization id or identity.
pub const MAX_ID_LEN: usize = 255;

/// A vendor tenant id: the id of a directory organization, and of the tenant record mapped to it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VendorTenantId(String);

impl VendorTenantId {
    /// Accepts a non-blank id of at most [`MAX_ID_LEN`] bytes without control characters. `field` names it in
    /// the error.
    pub fn parse(id: &str, field: &str) -> Result<Self, TenantError> {
        if id.trim().is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
            return Err(TenantError::InvalidArgument(format!(
                "{field} must be a non-empty id of at most {MAX_ID_LEN} bytes without control characters"
            )));
        }
        Ok(Self(id.to_owned()))
    }

    /// An id the database already holds: it was parsed (or generated) before it was stored.
    pub(crate) fn stored(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A credential identity. It cannot contain a colon: `X-CyberApp-Auth` splits identity and secrets at the
/// first one (protocol §5.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// Accepts a non-empty identity of at most [`MAX_ID_LEN`] bytes without colons or control characters.
    pub fn parse(identity: &str) -> Result<Self, TenantError> {
        if identity.is_empty()
            || identity.len() > MAX_ID_LEN
            || identity.contains(':')
            || identity.chars().any(char::is_control)
        {
            return Err(TenantError::InvalidArgument(format!(
                "identity must be non-empty, at most {MAX_ID_LEN} bytes, without colons or control characters"
            )));
        }
        Ok(Self(identity.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest accepted data-center URL.
pub const MAX_URL_LEN: usize = 2048;

/// A display name of a tenant or an organization: non-blank, bounded, no control characters (PostgreSQL
/// refuses NUL in text, and a newline in a name would forge lines in logs and UIs).
#[derive(Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    /// `field` names the value in the error.
    pub fn parse(name: &str, field: &str) -> Result<Self, TenantError> {
        if name.trim().is_empty() {
            return Err(TenantError::InvalidArgument(format!("{field} must not be empty")));
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(TenantError::InvalidArgument(format!("{field} is longer than {MAX_NAME_LEN} characters")));
        }
        if name.chars().any(char::is_control) {
            return Err(TenantError::InvalidArgument(format!("{field} must not contain control characters")));
        }
        Ok(Self(name.to_owned()))
    }

    /// A name the database already holds: it was parsed before it was stored.
    pub(crate) fn stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An Acronis data-center URL such as `https://eu8.acronis.cloud`, stored as received.
#[derive(Clone, PartialEq, Eq)]
pub struct DatacenterUrl(String);

impl DatacenterUrl {
    /// Accepts an http(s) URL with a host, of at most [`MAX_URL_LEN`] bytes.
    pub fn parse(value: &str) -> Result<Self, TenantError> {
        let invalid = || TenantError::InvalidArgument("datacenter_url must be an http(s) URL".into());
        if value.len() > MAX_URL_LEN || value.chars().any(char::is_control) {
            return Err(invalid());
        }
        let url = url::Url::parse(value).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Display shows the text itself; Debug shows it as its `String` would, so logs and debug output read the
/// same as for the plain text.
macro_rules! text_formats {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )*};
}

text_formats!(VendorTenantId, Identity, TenantName, DatacenterUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_name_parses_back_to_its_kind() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("partner.exploded"), None);
    }

    #[test]
    fn acronis_tenant_ids_are_normalised_to_lower_case() {
        let id = AcronisTenantId::parse("9AE2AADA-2342-4FC0-8D92-007B597A7D9C", "tenant_id").expect("valid");
        assert_eq!(id.to_string(), "9ae2aada-2342-4fc0-8d92-007b597a7d9c");
    }

    #[test]
    fn names_with_control_characters_are_refused() {
        assert!(TenantName::parse("ACME MSP", "name").is_ok());
        for bad in ["", "  ", "a\u{0}b", "line\nbreak", "tab\there"] {
            assert!(TenantName::parse(bad, "name").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn datacenter_urls_must_be_http_urls() {
        assert!(DatacenterUrl::parse("https://eu8.acronis.cloud").is_ok());
        assert!(DatacenterUrl::parse("https://eu8-cloud.acronis.com").is_ok());
        for bad in ["eu8.acronis.cloud", "ftp://x", "https://", "https://a\u{0}b", ""] {
            assert!(DatacenterUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn settings_must_be_a_json_object() {
        assert!(Settings::parse(r#"{"a":1}"#).is_ok());
        for bad in ["[]", "1", "\"x\"", "null", "{", ""] {
            assert!(Settings::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
