"""The OpenAPI document says what the server does: statuses, bounds, methods, auth.

The bounded schemathesis run that checks real answers against it is
tests/cli/test_api_schema.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from pixvault.core.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD
from pixvault.core.images import MAX_PAGE, MAX_PAGE_SIZE, MAX_URL_TTL
from pixvault.core.names import MAX_TAG_LENGTH, MAX_TAGS
from tests.conftest import Api
from tests.imagegen import make_image


@pytest.fixture
def doc(local_api: Api) -> dict[str, Any]:
    spec: dict[str, Any] = local_api.client.get("/openapi.json").json()
    return spec


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["components"]["schemas"][name]
    return found


def test_no_operation_documents_422_and_input_errors_are_400(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        assert "422" not in op["responses"], (method, path)
        takes_input = "requestBody" in op or any(
            p["in"] == "query" for p in op.get("parameters", [])
        )
        if takes_input:
            error = op["responses"]["400"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_middleware_answers_are_documented(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        codes = set(op["responses"])
        if path.startswith("/api/"):
            assert {"429", "503"} <= codes, (method, path)
        if "requestBody" in op:
            assert {"408", "413"} <= codes, (method, path)
    assert set(doc["paths"]["/healthz"]["get"]["responses"]) == {"200"}


def test_signed_in_operations_declare_the_bearer_scheme(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    secured = {(m, p) for m, p, op in _operations(doc) if op.get("security")}
    assert ("get", "/api/images/user") in secured and (
        "delete",
        "/api/images/{image_id}",
    ) in secured
    assert ("post", "/api/auth/login") not in secured and ("get", "/files/{key}") not in secured
    for method, path in secured:
        assert "401" in doc["paths"][path][method]["responses"]


def test_bounds_the_server_enforces_are_in_the_document(doc: dict[str, Any]) -> None:
    for path in ("/api/images/user", "/api/images/{image_id}/access-log"):
        params = {p["name"]: p["schema"] for p in doc["paths"][path]["get"]["parameters"]}
        assert (params["page"]["minimum"], params["page"]["maximum"]) == (1, MAX_PAGE)
        assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, MAX_PAGE_SIZE)
    presign = _schema(doc, "PresignRequest")["properties"]["expiresIn"]
    assert (presign["minimum"], presign["maximum"]) == (1, MAX_URL_TTL)
    tags = _schema(doc, "ImagePatchRequest")["properties"]["tags"]["anyOf"][0]
    assert tags["maxItems"] == MAX_TAGS and tags["items"]["maxLength"] == MAX_TAG_LENGTH
    sign_in = _schema(doc, "CredentialsIn")["properties"]
    assert sign_in["email"]["maxLength"] == MAX_EMAIL
    assert sign_in["password"]["maxLength"] == MAX_PASSWORD
    sign_up = _schema(doc, "NewAccountIn")["properties"]["password"]
    assert (sign_up["minLength"], sign_up["maxLength"]) == (MIN_PASSWORD, MAX_PASSWORD)


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ("page=1000000&limit=100", True),
        ("page=1000001", False),
        ("limit=101", False),
        ("limit=0", False),
        ("page=0", False),
    ],
)
def test_query_bounds_are_validated_as_400(api: Api, query: str, ok: bool) -> None:
    r = api.client.get(f"/api/images/user?{query}", headers=api.signup())
    assert r.status_code == (200 if ok else 400), r.text
    if not ok:
        assert r.json()["code"] == "invalid_input"


def test_405_allows_every_method_of_the_path(api: Api) -> None:
    r = api.client.put("/api/images/abc")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, PATCH"
    assert r.json() == {"error": "Method Not Allowed", "code": "method_not_allowed"}
    assert r.headers["x-content-type-options"] == "nosniff"
    r = api.client.post("/healthz")
    assert r.status_code == 405 and r.headers["allow"] == "GET"


def test_files_document_their_content_and_range_answers(doc: dict[str, Any]) -> None:
    responses = doc["paths"]["/files/{key}"]["get"]["responses"]
    assert set(responses) == {"200", "206", "400", "403", "404", "416", "503"}
    assert "image/*" in responses["200"]["content"] and "image/*" in responses["206"]["content"]


def _pointer(document: Any, expression: str) -> Any:
    """Resolve a ``$response.body#/a/0/b`` runtime expression against a decoded JSON body."""
    prefix = "$response.body#"
    assert expression.startswith(prefix), expression
    for token in expression.removeprefix(prefix).split("/")[1:]:
        document = document[int(token)] if isinstance(document, list) else document[token]
    return document


def _id_expression(link: dict[str, Any]) -> str:
    """Where a link takes the image id from: the path parameter, or ``imageId`` in the body."""
    found: str = link.get("parameters", {}).get("path.image_id") or link["requestBody"]["imageId"]
    return found


def _takes_image_id(doc: dict[str, Any], op: dict[str, Any]) -> bool:
    if any(p["name"] == "image_id" and p["in"] == "path" for p in op.get("parameters", [])):
        return True
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = body.get("schema", {}).get("$ref", "")
    return bool(ref) and "imageId" in _schema(doc, ref.rsplit("/", 1)[1]).get("properties", {})


def test_links_chain_an_uploaded_image_to_every_operation_taking_its_id(
    doc: dict[str, Any], local_api: Api
) -> None:
    """The upload's links (what clients and schemathesis' stateful phase follow) name real
    operations and parameters, cover every operation that takes an image id, and their
    expressions find the id in real answers of the seed's shape."""
    by_id = {op["operationId"]: (m, p, op) for m, p, op in _operations(doc)}
    wanted = {op["operationId"] for _, _, op in _operations(doc) if _takes_image_id(doc, op)}
    assert len(wanted) == 6  # detail, edit, delete, access log, variant, signed link

    def targets(path: str, method: str, status: str) -> dict[str, dict[str, Any]]:
        links: dict[str, dict[str, Any]] = doc["paths"][path][method]["responses"][status]["links"]
        for name, link in links.items():
            target = by_id[link["operationId"]][2]
            names = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
            assert set(link.get("parameters", {})) <= names, name
            if "requestBody" in link:
                ref = target["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                fields = _schema(doc, ref.rsplit("/", 1)[1])["properties"]
                assert set(link["requestBody"]) <= set(fields), name
            assert link.get("parameters") or link.get("requestBody"), name
        return links

    upload = targets("/api/images/upload", "post", "200")
    assert {link["operationId"] for link in upload.values()} == wanted
    for method in ("get", "patch"):
        assert {
            link["operationId"]
            for link in targets("/api/images/{image_id}", method, "200").values()
        } == wanted
    gone = targets("/api/images/{image_id}", "delete", "200")
    assert {by_id[link["operationId"]][0] for link in gone.values()} == {"get", "patch"}
    assert all(
        link["parameters"] == {"path.image_id": "$request.path.image_id"} for link in gone.values()
    )

    # The expressions, evaluated on real answers, give an id the linked operations accept.
    headers = local_api.signup()
    r = local_api.upload(headers, ("a.png", make_image("PNG", (8, 8))))
    assert r.status_code == 200, r.text
    for link in upload.values():
        expression = (
            link.get("parameters", {}).get("path.image_id") or link["requestBody"]["imageId"]
        )
        image_id = _pointer(r.json(), expression)
        assert local_api.client.get(f"/api/images/{image_id}", headers=headers).status_code == 200
    detail = local_api.client.get(f"/api/images/{image_id}", headers=headers).json()
    for link in targets("/api/images/{image_id}", "get", "200").values():
        expression = (
            link.get("parameters", {}).get("path.image_id") or link["requestBody"]["imageId"]
        )
        assert _pointer(detail, expression) == image_id
