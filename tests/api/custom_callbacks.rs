//! Custom callbacks (product contract, "Custom callbacks"): routed by CUSTOM_CALLBACK_ROUTES to the example
//! vendor service (`examples/users_handler`) running as its own process, through real sockets end to end.
//!
//! Whether the handler was called is asked of the handler itself: its test-only `fault` callback counts the
//! calls it answered per `request_id`.

use std::time::{Duration, Instant};

use cyberapp_tenants::pb::OrganizationKind;
use serde_json::{Value, json};

use crate::helpers::{
    C1, C2, ExampleHandler, OTHER_TENANT, PARTNER_TENANT, TestApp, TestResponse, enable_partner, enablement_write,
    example_callback, example_response, organizations, password_auth, reset_partner, set_customer_state,
    tenant_mapping_write,
};

const HANDLER_TOKEN: &str = "handler-token-0123456789";

/// An app routing every `vendor.app.*` callback to `handler`, with `options` on that route.
async fn app_routing_to(handler: &ExampleHandler, options: &str) -> TestApp {
    let routes = format!("cti.a.p.acgw.callback.v1.0~vendor.app.*={}{options}", handler.url());
    app_with_routes(routes).await
}

async fn app_with_routes(routes: String) -> TestApp {
    TestApp::spawn_with(|args| {
        args.custom_callbacks.custom_callback_routes = Some(routes);
        args.custom_callbacks.custom_callback_auth_token = Some(HANDLER_TOKEN.parse().expect("token"));
    })
    .await
}

/// A custom callback envelope for the example's `name` at `version`, from `tenant_id`.
fn custom(name: &str, version: &str, tenant_id: &str, payload: Value) -> Value {
    let mut body = json!({
        "type": format!("cti.a.p.acgw.request.v1.0~vendor.app.{name}.{version}"),
        "request_id": uuid::Uuid::new_v4().to_string(),
        "created_at": "2026-11-30T10:00:00Z",
        "context": {
            "callback_id": example_callback(name, version),
            "endpoint_id": crate::helpers::ENDPOINT_ID,
            "tenant_id": tenant_id,
            "datacenter_url": "https://eu8.acronis.cloud",
        },
    });
    body["payload"] = payload;
    body
}

fn tenant_info(tenant_id: &str) -> Value {
    custom("tenant_info", "v1.0", tenant_id, json!({ "form": "account" }))
}

/// How many calls the handler answered for `request_id` (asked through the gateway, from `tenant_id`).
async fn handler_calls(app: &TestApp, tenant_id: &str, request_id: &str) -> u64 {
    let ask = custom("fault", "v1.0", tenant_id, json!({ "count_request_id": request_id }));
    let response = app.callback(&ask).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.body["payload"]["calls"].as_u64().expect("calls")
}

/// The success envelope of a custom callback: the handler's type and status, our request and response ids.
fn assert_answer(response: &TestResponse, request: &Value, status: u16, response_type: &str) -> Value {
    assert_eq!(response.status, status, "{}", response.body);
    assert!(response.headers["content-type"].to_str().expect("ascii").starts_with("application/json"));
    assert_eq!(response.body["type"], response_type);
    assert_eq!(response.body["request_id"], request["request_id"]);
    let response_id = response.body["response_id"].as_str().expect("response_id");
    assert!(uuid::Uuid::try_parse(response_id).is_ok());
    response.body["payload"].clone()
}

async fn enabled_mirrored_partner(app: &TestApp) {
    let enable = enable_partner(PARTNER_TENANT, "Mirrored partner", None);
    assert_eq!(app.callback(&enable).await.status, 200);
}

/// The mirrored partner, and its mirrored customer C1.
async fn enabled_mirrored_partner_with_customer(app: &TestApp) {
    enabled_mirrored_partner(app).await;
    let customers = set_customer_state(
        PARTNER_TENANT,
        json!([{ "acronis_tenant_id": C1, "acronis_tenant_name": "Customer 1" }]),
        json!([]),
    );
    assert_eq!(app.callback(&customers).await.status, 200);
}

#[tokio::test]
async fn routing_takes_the_longest_matching_pattern_and_an_unrouted_id_is_404() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let url = handler.url();
    let exact = example_callback("tenant_info", "v1.0");
    let family = "cti.a.p.acgw.callback.v1.0~vendor.app.tenant_*";
    let app_wide = "cti.a.p.acgw.callback.v1.0~vendor.app.*";
    let app = app_with_routes(format!("{app_wide}={url}, {exact}={url}, {family}={url}")).await;
    enabled_mirrored_partner(&app).await;

    for (version, route) in [("v1.0", exact.as_str()), ("v1.7", family)] {
        let request = custom("tenant_info", version, PARTNER_TENANT, json!({}));
        let payload = assert_answer(&app.callback(&request).await, &request, 200, &example_response("tenant_info_ok"));
        assert_eq!(payload["route"], route, "{version}");
        assert_eq!(payload["callback_id"], request["context"]["callback_id"]);
    }
    let users = custom("users_read", "v1.3", PARTNER_TENANT, json!({}));
    assert_eq!(app.callback(&users).await.status, 200);

    let unrouted = json!({
        "type": "cti.a.p.acgw.request.v1.0~other.app.x.v1.0",
        "request_id": uuid::Uuid::new_v4().to_string(),
        "context": {
            "callback_id": "cti.a.p.acgw.callback.v1.0~other.app.x.v1.0",
            "endpoint_id": crate::helpers::ENDPOINT_ID,
            "tenant_id": PARTNER_TENANT,
        },
    });
    let before = app.snapshot().await;
    let response = app.callback(&unrouted).await;
    response.assert_error(404);
    assert_eq!(response.body["request_id"], unrouted["request_id"]);
    assert_eq!(app.snapshot().await, before);
    let request_id = unrouted["request_id"].as_str().expect("id");
    assert_eq!(handler_calls(&app, PARTNER_TENANT, request_id).await, 0);
}

#[tokio::test]
async fn the_handler_receives_the_resolved_tenant_for_each_enablement_method() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, "").await;

    // Mirrored partner and mirrored customer.
    enabled_mirrored_partner_with_customer(&app).await;
    let partner_record = app.tenant_by_acronis_id(PARTNER_TENANT).await.expect("partner record");
    let customer_record = app.tenant_by_acronis_id(C1).await.expect("customer record");

    let request = tenant_info(PARTNER_TENANT);
    let payload = assert_answer(&app.callback(&request).await, &request, 200, &example_response("tenant_info_ok"));
    assert_eq!(payload["tenant"]["vendor_tenant_id"], partner_record.vendor_tenant_id);
    assert_eq!(payload["tenant"]["kind"], "partner");
    assert_eq!(payload["tenant"]["method"], "mirrored");
    assert_eq!(payload["partner"], Value::Null);
    assert_eq!(payload["acronis_tenant_id"], PARTNER_TENANT);
    assert_eq!(payload["payload"], json!({ "form": "account" }));
    assert_eq!(payload["request_type"], request["type"]);
    assert_eq!(payload["request_id"], request["request_id"]);
    assert_eq!(payload["created_at"], "2026-11-30T10:00:00Z");
    assert_eq!(payload["endpoint_id"], crate::helpers::ENDPOINT_ID);
    assert_eq!(payload["datacenter_url"], "https://eu8.acronis.cloud");
    assert!(payload["traceparent"].as_str().is_some_and(|value| value.starts_with("00-")), "{payload}");

    let request = tenant_info(&C1.to_uppercase());
    let payload = assert_answer(&app.callback(&request).await, &request, 200, &example_response("tenant_info_ok"));
    assert_eq!(payload["tenant"]["vendor_tenant_id"], customer_record.vendor_tenant_id);
    assert_eq!(payload["tenant"]["kind"], "customer");
    assert_eq!(payload["tenant"]["method"], "mirrored");
    assert_eq!(payload["acronis_tenant_id"], C1);
    assert_eq!(payload["partner"]["vendor_tenant_id"], partner_record.vendor_tenant_id);

    // Mapped partner and mapped customer, in a directory of their own.
    organizations(
        &app,
        &[("acme-msp", OrganizationKind::Partner, None), ("acme-c1", OrganizationKind::Customer, Some("acme-msp"))],
    )
    .await;
    app.set_password("admin@acme", "acme-msp", "s3cret").await;
    let enable = enablement_write(OTHER_TENANT, "acme-msp", OTHER_TENANT);
    assert_eq!(app.callback_with_headers(&enable, &[password_auth("admin@acme", "s3cret")]).await.status, 200);
    let map = tenant_mapping_write(OTHER_TENANT, json!([{ "vendor_tenant_id": "acme-c1", "acronis_tenant_id": C2 }]));
    assert_eq!(app.callback(&map).await.status, 200);

    let request = tenant_info(OTHER_TENANT);
    let response = app.callback_with_headers(&request, &[password_auth("admin@acme", "s3cret")]).await;
    let payload = assert_answer(&response, &request, 200, &example_response("tenant_info_ok"));
    assert_eq!(payload["tenant"]["vendor_tenant_id"], "acme-msp");
    assert_eq!(payload["tenant"]["kind"], "partner");
    assert_eq!(payload["tenant"]["method"], "mapped");
    assert_eq!(payload["identity"], "admin@acme");
    assert_eq!(payload["identity_organization_id"], "acme-msp");

    let request = tenant_info(C2);
    let payload = assert_answer(&app.callback(&request).await, &request, 200, &example_response("tenant_info_ok"));
    assert_eq!(payload["tenant"]["vendor_tenant_id"], "acme-c1");
    assert_eq!(payload["tenant"]["kind"], "customer");
    assert_eq!(payload["tenant"]["method"], "mapped");
    assert_eq!(payload["partner"]["vendor_tenant_id"], "acme-msp");
    assert_eq!(payload["identity"], Value::Null);
}

#[tokio::test]
async fn refusals_happen_before_the_handler_is_called_and_change_nothing() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, "").await;
    enabled_mirrored_partner_with_customer(&app).await;
    organizations(&app, &[("acme-msp", OrganizationKind::Partner, None)]).await;
    app.set_password("admin@acme", "acme-msp", "s3cret").await;

    let not_enabled = tenant_info(OTHER_TENANT);
    let bad_token = tenant_info(PARTNER_TENANT);
    let wrong_password = tenant_info(PARTNER_TENANT);
    let foreign_credentials = tenant_info(PARTNER_TENANT);
    let bad_extra = tenant_info(PARTNER_TENANT);
    let before = app.snapshot().await;

    app.callback(&not_enabled).await.assert_error(403);
    app.callback_with_token(&bad_token, Some("not.a.jwt")).await.assert_error(401);
    app.callback_with_headers(&wrong_password, &[password_auth("admin@acme", "wrong")]).await.assert_error(401);
    // Valid credentials, but of an organization that is neither the tenant's nor its partner's.
    app.callback_with_headers(&foreign_credentials, &[password_auth("admin@acme", "s3cret")]).await.assert_error(403);
    app.callback_with_headers(&bad_extra, &[("x-cyberapp-extra", "not base64 json!".to_owned())])
        .await
        .assert_error(400);

    // A partner's reset switches its customers off too.
    assert_eq!(app.callback(&reset_partner(PARTNER_TENANT)).await.status, 200);
    let after_reset = app.snapshot().await;
    let customer_of_disabled = tenant_info(C1);
    app.callback(&customer_of_disabled).await.assert_error(403);
    let partner_disabled = tenant_info(PARTNER_TENANT);
    app.callback(&partner_disabled).await.assert_error(403);
    assert_eq!(app.snapshot().await, after_reset);
    assert_ne!(before, after_reset);

    // The handler never saw one of them (asked from a tenant that is enabled again).
    assert_eq!(app.callback(&enable_partner(PARTNER_TENANT, "Again", None)).await.status, 200);
    for request in [
        &not_enabled,
        &bad_token,
        &wrong_password,
        &foreign_credentials,
        &bad_extra,
        &customer_of_disabled,
        &partner_disabled,
    ] {
        let request_id = request["request_id"].as_str().expect("id");
        assert_eq!(handler_calls(&app, PARTNER_TENANT, request_id).await, 0, "{request_id}");
    }
}

#[tokio::test]
async fn an_explicit_partner_route_calls_the_handler_for_a_tenant_unknown_here() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, ";explicit-partner").await;
    let request = tenant_info(OTHER_TENANT);
    let payload = assert_answer(&app.callback(&request).await, &request, 200, &example_response("tenant_info_ok"));
    assert_eq!(payload["tenant"], Value::Null);
    assert_eq!(payload["acronis_tenant_id"], OTHER_TENANT);
}

/// A `fault` callback whose payload tells the example handler what to do.
fn fault(payload: Value) -> Value {
    custom("fault", "v1.0", PARTNER_TENANT, payload)
}

#[tokio::test]
async fn handler_errors_and_invalid_answers_map_to_the_contract() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, "").await;
    enabled_mirrored_partner(&app).await;
    let before = app.snapshot().await;

    for (code, status, shown) in [
        ("invalid_argument", 400, true),
        ("permission_denied", 403, true),
        ("not_found", 404, true),
        ("unavailable", 503, false),
        ("deadline_exceeded", 503, false),
        ("internal", 500, false),
        ("unknown", 500, false),
        ("already_exists", 500, false),
        ("unauthenticated", 500, false),
    ] {
        let message = format!("handler says {code}");
        let request = fault(json!({ "grpc_code": code, "message": message }));
        let response = app.callback(&request).await;
        response.assert_error(status);
        assert_eq!(response.body["request_id"], request["request_id"], "{code}");
        assert_eq!(response.err_message() == message, shown, "{code}: {}", response.err_message());
        if status == 503 {
            assert_eq!(response.headers["retry-after"], "5", "{code}");
        }
    }

    for answer in [
        json!({ "response_type": "not a cti", "http_status": 200 }),
        json!({ "response_type": example_response("fault_ok"), "http_status": 0 }),
        json!({ "response_type": example_response("fault_ok"), "http_status": 600 }),
        json!({ "response_type": example_response("fault_ok"), "http_status": 200, "payload_json": "{not json" }),
        json!({ "response_type": example_response("fault_ok"), "http_status": 200, "paging_json": "nope" }),
    ] {
        let request = fault(json!({ "answer": answer }));
        app.callback(&request).await.assert_error(500);
    }

    // A configured non-200 response is an answer, not an error: its status, its type, its payload.
    let request = fault(json!({ "answer": {
        "response_type": example_response("fault_conflict"),
        "http_status": 409,
        "payload_json": "{\"reason\":\"taken\"}",
        "paging_json": "{\"after\":\"abc\"}",
    } }));
    let response = app.callback(&request).await;
    let payload = assert_answer(&response, &request, 409, &example_response("fault_conflict"));
    assert_eq!(payload, json!({ "reason": "taken" }));
    assert_eq!(response.body["paging"], json!({ "after": "abc" }));

    // Without a payload the key is left out.
    let request = fault(json!({ "answer": { "response_type": example_response("fault_ok"), "http_status": 204 } }));
    let response = app.callback(&request).await;
    assert_eq!(response.status, 204);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_handler_slower_than_the_route_deadline_is_answered_503_at_the_deadline() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, ";deadline=300ms").await;
    enabled_mirrored_partner(&app).await;

    let started = Instant::now();
    let response = app.callback(&fault(json!({ "sleep_ms": 3000 }))).await;
    let elapsed = started.elapsed();

    response.assert_error(503);
    assert_eq!(response.headers["retry-after"], "5");
    assert!(elapsed < Duration::from_millis(2500), "answered after {elapsed:?}");
    assert_eq!(app.callback(&fault(json!({ "sleep_ms": 10 }))).await.status, 200);
}

#[tokio::test]
async fn an_exactly_once_route_replays_the_recorded_answer_and_refuses_another_body() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let exact = example_callback("user_create", "v1.0");
    let routes =
        format!("cti.a.p.acgw.callback.v1.0~vendor.app.*={url}, {exact}={url};exactly-once", url = handler.url());
    let app = app_with_routes(routes).await;
    enabled_mirrored_partner(&app).await;

    let create = custom("user_create", "v1.0", PARTNER_TENANT, json!({ "login": "ann", "email": "ann@example.com" }));
    let first = app.callback(&create).await;
    let created = assert_answer(&first, &create, 200, &example_response("user_create_ok"));
    let replay = app.callback(&create).await;
    assert_eq!((replay.status, &replay.body), (first.status, &first.body), "a replay is the identical answer");

    let mut other_body = create.clone();
    other_body["payload"]["login"] = json!("bob");
    let conflict = app.callback(&other_body).await;
    conflict.assert_error(409);

    let request_id = create["request_id"].as_str().expect("id");
    assert_eq!(handler_calls(&app, PARTNER_TENANT, request_id).await, 1);
    let list = custom("users_read", "v1.0", PARTNER_TENANT, json!({}));
    let users = assert_answer(&app.callback(&list).await, &list, 200, &example_response("users_read_ok"));
    assert_eq!(users["items"], json!([created]), "one user was created, once");

    // A handler error is not recorded: the same request again reaches the handler again.
    let invalid = custom("user_create", "v1.0", PARTNER_TENANT, json!({ "login": "cy", "email": "no-at-sign" }));
    app.callback(&invalid).await.assert_error(400);
    app.callback(&invalid).await.assert_error(400);
    let invalid_id = invalid["request_id"].as_str().expect("id");
    assert_eq!(handler_calls(&app, PARTNER_TENANT, invalid_id).await, 2, "a handler error releases the claim");
}

#[tokio::test]
async fn a_handler_that_is_down_is_503_and_is_reached_again_when_it_is_back() {
    let mut handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, "").await;
    enabled_mirrored_partner(&app).await;
    assert_eq!(app.callback(&tenant_info(PARTNER_TENANT)).await.status, 200);

    handler.stop();
    let response = app.callback(&tenant_info(PARTNER_TENANT)).await;
    response.assert_error(503);
    assert_eq!(response.headers["retry-after"], "5");

    handler.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = app.callback(&tenant_info(PARTNER_TENANT)).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the gateway reconnects to the handler once it is back");
}

#[tokio::test]
async fn a_handler_refuses_a_gateway_without_its_token() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let routes = format!("cti.a.p.acgw.callback.v1.0~vendor.app.*={}", handler.url());
    let app = TestApp::spawn_with(|args| args.custom_callbacks.custom_callback_routes = Some(routes)).await;
    enabled_mirrored_partner(&app).await;
    // UNAUTHENTICATED from the handler is our misconfiguration: 500, detail in the log only.
    app.callback(&tenant_info(PARTNER_TENANT)).await.assert_error(500);
}

#[tokio::test]
async fn paging_and_extra_reach_the_handler_and_its_paging_comes_back() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, "").await;
    enabled_mirrored_partner(&app).await;
    for login in ["ann", "bob", "cy"] {
        let create =
            custom("user_create", "v1.0", PARTNER_TENANT, json!({ "login": login, "email": format!("{login}@x.io") }));
        assert_eq!(app.callback(&create).await.status, 200);
    }

    let mut first_page = custom("users_read", "v1.0", PARTNER_TENANT, json!({}));
    first_page["paging"] = json!({ "limit": 2 });
    let response = app.callback(&first_page).await;
    let payload = assert_answer(&response, &first_page, 200, &example_response("users_read_ok"));
    assert_eq!(payload["items"].as_array().map(Vec::len), Some(2));
    let after = response.body["paging"]["after"].as_str().expect("a cursor to the next page").to_owned();
    let mut second_page = custom("users_read", "v1.0", PARTNER_TENANT, json!({}));
    second_page["paging"] = json!({ "limit": 2, "after": after });
    let response = app.callback(&second_page).await;
    let payload = assert_answer(&response, &second_page, 200, &example_response("users_read_ok"));
    assert_eq!(payload["items"][0]["login"], "cy");
    assert_eq!(response.body.get("paging"), None, "no paging key on the last page");

    let extra = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, r#"{"locale":"de"}"#);
    let mut request = tenant_info(PARTNER_TENANT);
    request["paging"] = json!({ "limit": 5 });
    let response = app.callback_with_headers(&request, &[("x-cyberapp-extra", extra)]).await;
    let payload = assert_answer(&response, &request, 200, &example_response("tenant_info_ok"));
    assert_eq!(payload["extra"], json!({ "locale": "de" }));
    assert_eq!(payload["paging"], json!({ "limit": 5 }));
}

#[tokio::test]
async fn custom_callbacks_are_counted_by_route_and_outcome() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let app = app_routing_to(&handler, "").await;
    enabled_mirrored_partner(&app).await;
    let route = "cti.a.p.acgw.callback.v1.0~vendor.app.*";
    let count = |metrics: &str, outcome: &str, status: u16| -> u64 {
        let series =
            format!("cyberapp_custom_callbacks_total{{route=\"{route}\",outcome=\"{outcome}\",status=\"{status}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&series))
            .map_or(0, |value| value.trim().parse().expect("count"))
    };
    let metrics = |app: &TestApp| {
        let url = format!("{}/metrics", app.base_url);
        async move { reqwest::get(url).await.expect("metrics").text().await.expect("text") }
    };
    let before = metrics(&app).await;
    assert_eq!(app.callback(&tenant_info(PARTNER_TENANT)).await.status, 200);
    app.callback(&tenant_info(OTHER_TENANT)).await.assert_error(403);
    app.callback(&fault(json!({ "grpc_code": "not_found" }))).await.assert_error(404);
    let after = metrics(&app).await;
    // Metrics are process-wide and tests run in parallel: at least this test's calls were counted.
    assert!(count(&after, "answered", 200) > count(&before, "answered", 200));
    assert!(count(&after, "refused", 403) > count(&before, "refused", 403));
    assert!(count(&after, "handler_error", 404) > count(&before, "handler_error", 404));
    assert!(after.contains(
        "cyberapp_custom_callback_handler_duration_seconds_count{route=\"cti.a.p.acgw.callback.v1.0~vendor.app.*\"}"
    ));
}

/// Makes the recorded answer of `request_id` look like a claim still with its handler, taken `age` ago by a
/// gateway that never finished it (as if that gateway had died).
async fn make_pending(app: &TestApp, request_id: &str, age: chrono::Duration) {
    use cyberapp_tenants::db::entity::callback_request;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let updated = callback_request::Entity::update_many()
        .col_expr(callback_request::Column::OutcomeJson, Expr::value(""))
        .col_expr(callback_request::Column::CreatedAt, Expr::value(chrono::Utc::now() - age))
        .filter(callback_request::Column::RequestId.eq(request_id))
        .exec(&app.db)
        .await
        .expect("update");
    assert_eq!(updated.rows_affected, 1);
}

#[tokio::test]
async fn a_claim_in_progress_is_429_and_a_dead_gateways_claim_is_taken_over_after_its_lease() {
    let handler = ExampleHandler::start(Some(HANDLER_TOKEN));
    let exact = example_callback("user_create", "v1.0");
    let routes = format!(
        "cti.a.p.acgw.callback.v1.0~vendor.app.*={url}, {exact}={url};exactly-once;deadline=1s",
        url = handler.url()
    );
    let app = app_with_routes(routes).await;
    enabled_mirrored_partner(&app).await;
    let create = custom("user_create", "v1.0", PARTNER_TENANT, json!({ "login": "ann", "email": "ann@example.com" }));
    let request_id = create["request_id"].as_str().expect("id");
    let first = app.callback(&create).await;
    assert_eq!(first.status, 200, "{}", first.body);

    // Claimed a moment ago and not answered yet: the handler may still be working on it.
    make_pending(&app, request_id, chrono::Duration::zero()).await;
    let in_progress = app.callback(&create).await;
    in_progress.assert_error(429);
    assert_eq!(in_progress.headers["retry-after"], "1");
    assert_eq!(handler_calls(&app, PARTNER_TENANT, request_id).await, 1);

    // Claimed longer ago than the lease (deadline + 5 s): its gateway died, so a retry takes it over.
    make_pending(&app, request_id, chrono::Duration::seconds(60)).await;
    let taken_over = app.callback(&create).await;
    let payload = assert_answer(&taken_over, &create, 409, &example_response("user_create_conflict"));
    assert_eq!(payload, json!({ "login": "ann" }), "the handler ran again and found the user it had created");
    assert_eq!(handler_calls(&app, PARTNER_TENANT, request_id).await, 2);
    assert_ne!(taken_over.body["response_id"], first.body["response_id"]);
    // ... and its answer is the one recorded now.
    let replay = app.callback(&create).await;
    assert_eq!((replay.status, &replay.body), (taken_over.status, &taken_over.body));
    assert_eq!(handler_calls(&app, PARTNER_TENANT, request_id).await, 2);
}
