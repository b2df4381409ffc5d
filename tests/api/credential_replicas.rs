//! A credential change reaches every replica at once. Each replica remembers successful checks for
//! `CREDENTIAL_CACHE_TTL_SECS` (60 s), but a remembered check is honoured only while the directory still holds
//! the hash it was checked against, and every check reads that hash: after `SetCredentials` on one replica,
//! the very next check on any other replica refuses the old secret and accepts the new one. The bound is
//! zero, not the TTL, which is why these replicas keep the default 60 s TTL: expiry cannot be what the test
//! sees.

use cyberapp_tenants::pb::OrganizationKind;

use crate::helpers::{
    ENABLEMENT_READ_OK, PARTNER_TENANT, TestApp, assert_success, enablement_read, enablement_write, organizations,
    password_auth,
};

#[tokio::test]
async fn set_credentials_on_one_replica_takes_effect_on_another_at_once() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(&a.database_url).await;
    organizations(&a, &[("acme", OrganizationKind::Partner, None)]).await;
    a.set_password("admin@acme", "acme", "old").await;
    let write = enablement_write(PARTNER_TENANT, "acme", PARTNER_TENANT);
    assert_eq!(a.callback_with_headers(&write, &[password_auth("admin@acme", "old")]).await.status, 200);

    // Warm both replicas' caches with the old secret: one successful read on each.
    let read = enablement_read(PARTNER_TENANT);
    for replica in [&a, &b] {
        let response = replica.callback_with_headers(&read, &[password_auth("admin@acme", "old")]).await;
        let payload = assert_success(&response, &read, ENABLEMENT_READ_OK).expect("payload");
        assert_eq!(payload["vendor_tenant_id"], "acme");
        assert_eq!(payload["acronis_tenant_id"], PARTNER_TENANT, "the partner is mapped");
    }

    a.set_password("admin@acme", "acme", "new").await;

    // No waiting: the first check on B after the change already sees it.
    b.callback_with_headers(&read, &[password_auth("admin@acme", "old")]).await.assert_error(401);
    let response = b.callback_with_headers(&read, &[password_auth("admin@acme", "new")]).await;
    let payload = assert_success(&response, &read, ENABLEMENT_READ_OK).expect("payload");
    assert_eq!(payload["vendor_tenant_id"], "acme");
    // And on A, which forgot its own entry when it stored the new hash.
    a.callback_with_headers(&read, &[password_auth("admin@acme", "old")]).await.assert_error(401);
    assert_eq!(a.callback_with_headers(&read, &[password_auth("admin@acme", "new")]).await.status, 200);
}
