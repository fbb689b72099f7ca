//! Stripe samples: an `event` envelope around a `data.object` shaped for the type
//! (payment intent, invoice, customer, subscription, checkout session, charge).

use serde_json::{Value, json};

use super::{Cx, Out, given, set_if_absent, short_id};

pub(super) fn stripe(t: &str, payload: Option<&Value>, cx: &Cx) -> Out {
    let body = match payload {
        Some(p) => given(p, |p| set_if_absent(p, &["type"], json!(t))),
        None => json!({
            "id": format!("evt_test_{}", short_id(24)),
            "object": "event",
            "api_version": "2024-06-20",
            "created": cx.secs,
            "data": {"object": stripe_object(t, cx)},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": t,
        }),
    };
    Out::json(&body, "application/json; charset=utf-8").header(
        "User-Agent",
        "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    )
}

/// The `data.object` for a type: everything before the last segment names the object
/// (`payment_intent`, `customer.subscription`, `checkout.session`).
fn stripe_object(t: &str, cx: &Cx) -> Value {
    let (object, action) = t.rsplit_once('.').unwrap_or((t, ""));
    let id = |prefix: &str| format!("{prefix}_test_{}", short_id(24));
    match object {
        "payment_intent" => {
            let status = match action {
                "succeeded" => "succeeded",
                "canceled" => "canceled",
                "processing" => "processing",
                _ => "requires_payment_method",
            };
            let received = if status == "succeeded" { 2000 } else { 0 };
            json!({
                "id": id("pi"),
                "object": "payment_intent",
                "amount": 2000,
                "amount_received": received,
                "currency": "usd",
                "customer": "cus_test_NffrFeUfNV2Hib",
                "description": "Order #1042",
                "status": status,
                "latest_charge": if received > 0 { Value::from(id("ch")) } else { Value::Null },
                "last_payment_error": if action == "payment_failed" {
                    json!({"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."})
                } else {
                    Value::Null
                },
                "metadata": {"order_id": "1042"},
                "livemode": false,
                "created": cx.secs,
            })
        }
        "invoice" => {
            let paid = action == "paid" || action == "payment_succeeded";
            json!({
                "id": id("in"),
                "object": "invoice",
                "number": "A1B2C3D4-0001",
                "customer": "cus_test_NffrFeUfNV2Hib",
                "customer_email": "alice@example.com",
                "subscription": "sub_test_1MowQVLkdIwHu7ix",
                "currency": "usd",
                "amount_due": 1500,
                "amount_paid": if paid { 1500 } else { 0 },
                "amount_remaining": if paid { 0 } else { 1500 },
                "attempt_count": 1,
                "status": if paid { "paid" } else { "open" },
                "paid": paid,
                "hosted_invoice_url": "https://invoice.stripe.com/i/acct_test/test_invoice",
                "livemode": false,
                "created": cx.secs,
            })
        }
        "customer" => json!({
            "id": id("cus"),
            "object": "customer",
            "email": "alice@example.com",
            "name": "Alice Example",
            "livemode": false,
            "created": cx.secs,
        }),
        "customer.subscription" => json!({
            "id": id("sub"),
            "object": "subscription",
            "customer": "cus_test_NffrFeUfNV2Hib",
            "status": if action == "deleted" { "canceled" } else { "active" },
            "items": {"object": "list", "data": [{"id": id("si"), "object": "subscription_item", "price": {"id": "price_test_1", "unit_amount": 1500, "currency": "usd", "recurring": {"interval": "month"}}}]},
            "current_period_start": cx.secs,
            "current_period_end": cx.secs + 30 * 86_400,
            "livemode": false,
            "created": cx.secs,
        }),
        "checkout.session" => json!({
            "id": id("cs"),
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "amount_total": 2000,
            "currency": "usd",
            "customer": "cus_test_NffrFeUfNV2Hib",
            "customer_details": {"email": "alice@example.com", "name": "Alice Example"},
            "payment_intent": id("pi"),
            "livemode": false,
            "created": cx.secs,
        }),
        "charge" => json!({
            "id": id("ch"),
            "object": "charge",
            "amount": 2000,
            "amount_refunded": if action == "refunded" { 2000 } else { 0 },
            "refunded": action == "refunded",
            "currency": "usd",
            "customer": "cus_test_NffrFeUfNV2Hib",
            "payment_intent": id("pi"),
            "status": "succeeded",
            "livemode": false,
            "created": cx.secs,
        }),
        other => {
            let name = other.rsplit('.').next().unwrap_or(other);
            json!({
                "id": id("obj"),
                "object": name,
                "livemode": false,
                "created": cx.secs,
            })
        }
    }
}
