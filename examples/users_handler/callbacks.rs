//! Dispatch and the callbacks themselves: one function per callback of the `vendor.app` CyberApp, each
//! reading parse → do → answer.
//!
//! By the time a request arrives here the gateway has verified the Acronis JWT and resolved who is asking:
//! `request.tenant` is our record of the tenant, so a handler needs no token or tenant lookup of its own. It
//! must still scope every read and write to that tenant, which is why each users callback starts from
//! `account()`. Refusals are gRPC statuses whose message is a sentence the partner admin sees (the gateway
//! shows INVALID_ARGUMENT, PERMISSION_DENIED and NOT_FOUND messages as `err_message`); an expected outcome the
//! Vendor Portal configures as its own response (a 409 conflict) is an answer, not an error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore as _};
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Status;

use crate::answer::{answer, invalid_payload};
use crate::callback_name::Callback;
use crate::fault::Faults;
use crate::paging::{self, PageRequest};
use crate::store::{CreateError, NewUser, UserStore};
use cyberapp_tenants::pb;

/// Everything the callbacks share: the users, and the fault state when `--fault-injection` is on.
#[derive(Debug)]
pub struct Callbacks {
    users: UserStore,
    faults: Option<Faults>,
}

impl Callbacks {
    pub fn new(fault_injection: bool) -> Self {
        Self { users: UserStore::default(), faults: fault_injection.then(Faults::default) }
    }

    /// Answers one verified custom callback. `traceparent` is the call's W3C trace context, echoed by
    /// `tenant_info`.
    pub async fn dispatch(
        &self,
        request: &pb::HandleCustomCallbackRequest,
        traceparent: Option<&str>,
    ) -> Result<pb::HandleCustomCallbackResponse, Status> {
        if let Some(faults) = &self.faults {
            faults.record_call(&request.request_id);
        }
        match Callback::from_id(&request.callback_id) {
            Some(Callback::UsersRead) => self.users_read(request),
            Some(Callback::UserCreate) => self.user_create(request),
            Some(Callback::UserDelete) => self.user_delete(request),
            Some(Callback::UserResetPassword) => self.user_reset_password(request),
            Some(Callback::TenantInfo) => Ok(tenant_info(request, traceparent)),
            // Without --fault-injection the test-only callback does not exist, as far as any caller can tell.
            Some(Callback::Fault) => match &self.faults {
                Some(faults) => faults.handle(request).await,
                None => Err(not_implemented(request)),
            },
            None => Err(not_implemented(request)),
        }
    }

    /// Data initializer and 5-second refresh of the users table: one page, ordered by id.
    fn users_read(
        &self,
        request: &pb::HandleCustomCallbackRequest,
    ) -> Result<pb::HandleCustomCallbackResponse, Status> {
        let account = account(request)?;
        let page = PageRequest::parse(request.paging_json.as_deref())
            .map_err(|invalid| Status::invalid_argument(invalid.0))?;
        let listed = self.users.list(account, page.after, page.limit);
        Ok(answer(
            "users_read_ok",
            200,
            Some(json!({ "items": listed.items })),
            paging::response_paging(listed.more_after),
        ))
    }

    /// "Create user" button.
    fn user_create(
        &self,
        request: &pb::HandleCustomCallbackRequest,
    ) -> Result<pb::HandleCustomCallbackResponse, Status> {
        #[derive(Deserialize)]
        struct Payload {
            login: Option<String>,
            email: Option<String>,
            #[serde(default)]
            admin: bool,
        }
        let account = account(request)?;
        let payload: Payload = parse_payload(request, r#"{"login": "...", "email": "...", "admin": false}"#)?;
        let new = NewUser {
            login: login(payload.login.as_deref())?,
            email: email(payload.email.as_deref())?,
            admin: payload.admin,
        };
        let requested_login = new.login.clone();
        match self.users.create(account, new) {
            Ok(user) => Ok(answer("user_create_ok", 200, Some(json!(user)), None)),
            // A response the Vendor Portal configures with its own HTTP code, so the form can say "that login is
            // taken" next to the field: an answer, not an error.
            Err(CreateError::LoginTaken) => {
                Ok(answer("user_create_conflict", 409, Some(json!({ "login": requested_login })), None))
            }
        }
    }

    /// "Delete" button of a row.
    fn user_delete(
        &self,
        request: &pb::HandleCustomCallbackRequest,
    ) -> Result<pb::HandleCustomCallbackResponse, Status> {
        let account = account(request)?;
        let UserRef { id } = parse_payload(request, r#"{"id": 1}"#)?;
        let id = user_id(id)?;
        self.users.delete(account, id).ok_or_else(|| no_such_user(id))?;
        Ok(answer("user_delete_ok", 200, None, None))
    }

    /// "Reset password" button of a row: answers a one-time password to show once.
    fn user_reset_password(
        &self,
        request: &pb::HandleCustomCallbackRequest,
    ) -> Result<pb::HandleCustomCallbackResponse, Status> {
        let account = account(request)?;
        let UserRef { id } = parse_payload(request, r#"{"id": 1}"#)?;
        let id = user_id(id)?;
        let user = self.users.get(account, id).ok_or_else(|| no_such_user(id))?;
        let is_customer = request.tenant.as_ref().is_some_and(|tenant| tenant.kind() == pb::TenantKind::Customer);
        if is_customer && user.admin {
            return Err(Status::permission_denied("Only the partner can reset the password of an administrator."));
        }
        Ok(answer(
            "user_reset_password_ok",
            200,
            Some(json!({ "id": id, "temporary_password": temporary_password() })),
            None,
        ))
    }
}

/// Data initializer that echoes who asked and how, so the gateway's tests can check what it resolved and
/// forwarded. It reads no data, so it needs no enabled tenant.
fn tenant_info(
    request: &pb::HandleCustomCallbackRequest,
    traceparent: Option<&str>,
) -> pb::HandleCustomCallbackResponse {
    let payload = json!({
        "route": request.route,
        "callback_id": request.callback_id,
        "request_type": request.request_type,
        "request_id": request.request_id,
        "created_at": request.created_at,
        "endpoint_id": request.endpoint_id,
        "datacenter_url": request.datacenter_url,
        "acronis_tenant_id": request.acronis_tenant_id,
        "payload": json_or_text(&request.payload_json),
        "extra": request.extra_json.as_deref().map(json_or_text),
        "paging": request.paging_json.as_deref().map(json_or_text),
        "identity": request.identity,
        "identity_organization_id": request.identity_organization_id,
        "tenant": request.tenant.as_ref().map(tenant_json),
        "partner": request.partner.as_ref().map(tenant_json),
        "traceparent": traceparent,
    });
    answer("tenant_info_ok", 200, Some(payload), None)
}

fn not_implemented(request: &pb::HandleCustomCallbackRequest) -> Status {
    Status::not_found(format!("This handler does not implement {}.", request.callback_id))
}

fn no_such_user(id: u64) -> Status {
    Status::not_found(format!("No user with id {id} in this account."))
}

/// The vendor tenant whose users a callback may see and change. The gateway only forwards callbacks of enabled
/// tenants, except on an `explicit-partner` route, where the record may be missing or disabled: such a tenant
/// has no users here.
fn account(request: &pb::HandleCustomCallbackRequest) -> Result<&str, Status> {
    match &request.tenant {
        Some(tenant) if tenant.state() == pb::EnablementState::Enabled && !tenant.vendor_tenant_id.is_empty() => {
            Ok(&tenant.vendor_tenant_id)
        }
        _ => Err(Status::permission_denied("This account has not enabled the CyberApp.")),
    }
}

fn parse_payload<T: for<'de> Deserialize<'de>>(
    request: &pb::HandleCustomCallbackRequest,
    shape: &str,
) -> Result<T, Status> {
    serde_json::from_str(&request.payload_json).map_err(|_| invalid_payload(shape))
}

/// `{"id": N}` of the row a button belongs to.
#[derive(Deserialize)]
struct UserRef {
    id: Option<UserId>,
}

/// A user id as forms send it: a number, or the same number as text (table cells and selects often hold text).
#[derive(Deserialize)]
#[serde(untagged)]
enum UserId {
    Number(u64),
    Text(String),
}

fn user_id(id: Option<UserId>) -> Result<u64, Status> {
    let invalid = || Status::invalid_argument("The user id (id) must be a whole number.");
    match id {
        None => Err(Status::invalid_argument("The user id (id) is required.")),
        Some(UserId::Number(id)) => Ok(id),
        Some(UserId::Text(text)) => text.trim().parse().map_err(|_| invalid()),
    }
}

/// A login as the form sent it, trimmed: 1 to 64 characters, none of them a space or a control character.
fn login(login: Option<&str>) -> Result<String, Status> {
    let login = login.map(str::trim).unwrap_or_default();
    if login.is_empty() {
        return Err(Status::invalid_argument("A login is required."));
    }
    if login.chars().count() > 64 || login.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Status::invalid_argument("The login must be 1 to 64 characters, without spaces."));
    }
    Ok(login.to_owned())
}

/// An email address, trimmed. Only its shape is checked (something@something); whether it exists is for the
/// mail server to say.
fn email(email: Option<&str>) -> Result<String, Status> {
    let email = email.map(str::trim).unwrap_or_default();
    if email.is_empty() {
        return Err(Status::invalid_argument("An email address is required."));
    }
    let well_formed = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if !well_formed || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(Status::invalid_argument("The email address must look like name@example.com."));
    }
    Ok(email.to_owned())
}

/// 16 characters from 96 random bits: enough for a password the user must change at first sign-in.
fn temporary_password() -> String {
    let mut bytes = [0_u8; 12];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// JSON text as a value; text the gateway should never send (it forwards only JSON) is echoed as a string.
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A tenant record as `tenant_info` shows it.
fn tenant_json(tenant: &pb::Tenant) -> Value {
    let kind = match tenant.kind() {
        pb::TenantKind::Partner => "partner",
        pb::TenantKind::Customer => "customer",
        pb::TenantKind::Unspecified => "unspecified",
    };
    let method = match tenant.enablement_method() {
        pb::EnablementMethod::Mirrored => "mirrored",
        pb::EnablementMethod::Mapped => "mapped",
        pb::EnablementMethod::Unspecified => "unspecified",
    };
    let state = match tenant.state() {
        pb::EnablementState::Enabled => "enabled",
        pb::EnablementState::Disabled => "disabled",
        pb::EnablementState::Unspecified => "unspecified",
    };
    json!({
        "vendor_tenant_id": tenant.vendor_tenant_id,
        "acronis_tenant_id": tenant.acronis_tenant_id,
        "kind": kind,
        "method": method,
        "state": state,
        "partner_acronis_tenant_id": tenant.partner_acronis_tenant_id,
        "name": tenant.name,
        "datacenter_url": tenant.datacenter_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_trimmed_and_must_be_one_word_of_at_most_64_characters() {
        assert_eq!(login(Some("  ann ")).ok(), Some("ann".to_owned()));
        for refused in [None, Some(""), Some("   "), Some("ann smith"), Some("a\u{7}b")] {
            assert!(login(refused).is_err(), "{refused:?}");
        }
        assert!(login(Some(&"a".repeat(64))).is_ok());
        assert!(login(Some(&"a".repeat(65))).is_err());
    }

    #[test]
    fn an_email_needs_one_at_with_text_on_both_sides() {
        assert_eq!(email(Some(" ann@example.com ")).ok(), Some("ann@example.com".to_owned()));
        for refused in [None, Some(""), Some("ann"), Some("@example.com"), Some("ann@"), Some("a@b@c"), Some("a b@c")] {
            assert!(email(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn a_user_id_may_be_a_number_or_digits_as_text() {
        assert_eq!(user_id(Some(UserId::Number(7))).ok(), Some(7));
        assert_eq!(user_id(Some(UserId::Text(" 7 ".to_owned()))).ok(), Some(7));
        assert!(user_id(Some(UserId::Text("seven".to_owned()))).is_err());
        assert!(user_id(None).is_err());
    }

    #[test]
    fn temporary_passwords_differ() {
        assert_ne!(temporary_password(), temporary_password());
        assert_eq!(temporary_password().len(), 16);
    }
}
