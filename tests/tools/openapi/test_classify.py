"""Side-effect classification: method first, words of operationId / path / summary next, the extension wins."""

from __future__ import annotations

import pytest

from loopdesk.tools.openapi.classify import classify, words

CASES = [
    # method, path, operation, expected
    ("GET", "/orders", {}, "read"),
    ("get", "/orders/{id}", {"operationId": "getOrder"}, "read"),
    ("HEAD", "/files/{id}", {}, "read"),
    ("OPTIONS", "/orders", {}, "read"),
    ("GET", "/refund-policy", {"summary": "Read the refund policy"}, "read"),  # GET stays a read
    ("DELETE", "/orders/{id}", {}, "destructive"),
    ("DELETE", "/cache", {"operationId": "listCache"}, "destructive"),
    ("POST", "/orders", {"operationId": "createOrder"}, "write"),
    ("PUT", "/orders/{id}", {"operationId": "updateOrder"}, "write"),
    ("PATCH", "/orders/{id}", {"summary": "Change the address"}, "write"),
    ("POST", "/search", {}, "read"),
    ("POST", "/orders/_search", {}, "read"),
    ("POST", "/orders/query", {"operationId": "ordersQuery"}, "read"),
    ("POST", "/v1/orders", {"operationId": "searchOrders"}, "read"),
    ("POST", "/v1/orders", {"operationId": "list_orders_v1_orders_post"}, "read"),
    ("POST", "/pricing", {"summary": "Calculate the price of a basket"}, "read"),
    ("POST", "/shipping", {"operationId": "estimateShipping"}, "read"),
    ("POST", "/addresses/validate", {}, "read"),
    ("POST", "/invoices/preview", {}, "read"),
    ("POST", "/lookup", {"operationId": "lookupCustomer"}, "read"),
    ("POST", "/customers", {"operationId": "getOrCreateCustomer"}, "write"),  # a write verb keeps it a write
    ("POST", "/quotes", {}, "write"),  # a plural noun is not the verb "quote"
    ("POST", "/lists/{id}/list-members", {"operationId": "addListMember"}, "write"),
    ("POST", "/orders/{id}/refund", {}, "destructive"),
    ("POST", "/refunds", {"operationId": "PostRefunds"}, "destructive"),
    ("POST", "/subscriptions/{id}", {"operationId": "cancelSubscription"}, "destructive"),
    ("POST", "/tokens/{id}", {"summary": "Revoke an access token"}, "destructive"),
    ("PUT", "/users/{id}/password", {"operationId": "resetPassword"}, "destructive"),
    ("PATCH", "/accounts/{id}", {"operationId": "terminateAccount"}, "destructive"),
    ("POST", "/payments/{id}/void", {}, "destructive"),
    ("POST", "/cache/purge", {}, "destructive"),
    ("POST", "/search", {"summary": "Search and delete matching records"}, "destructive"),  # destructive wins
    ("POST", "/graphql", {}, "write"),
    ("DELETE", "/orders/{id}", {"x-side-effect": "write"}, "write"),
    ("POST", "/reports", {"x-loopdesk-side-effect": "read"}, "read"),
    ("GET", "/reset", {"x-side-effect": "DESTRUCTIVE"}, "destructive"),
    ("POST", "/reports", {"x-side-effect": "harmless"}, "write"),  # an unknown value is ignored
]


@pytest.mark.parametrize(("method", "path", "operation", "expected"), CASES)
def test_classification_table(method, path, operation, expected):
    side_effect, reason = classify(method, path, operation)
    assert side_effect == expected, reason
    assert isinstance(reason, str) and reason and "\n" not in reason


def test_the_reason_names_what_decided():
    assert classify("POST", "/orders/{id}/refund", {}) == (
        "destructive",
        "POST named like a destructive action (refund)",
    )
    assert classify("POST", "/search", {}) == ("read", "POST named like a query (search)")
    assert classify("DELETE", "/x", {"x-loopdesk-side-effect": "read"}) == (
        "read",
        "declared by x-loopdesk-side-effect",
    )
    assert classify("PUT", "/x", None) == ("write", "PUT writes")


def test_words_split_identifiers_and_sentences():
    assert words("deleteUserById") == ["delete", "user", "by", "id"]
    assert words("list_orders-v2") == ["list", "orders", "v", "2"]
    assert words("HTTPServerReset") == ["http", "server", "reset"]
