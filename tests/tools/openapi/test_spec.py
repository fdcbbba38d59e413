"""Loading, $ref resolution and normalisation of Swagger 2.0, OpenAPI 3.0 and 3.1 documents."""

from __future__ import annotations

import re
import time
from textwrap import dedent

import jsonschema_rs
import orjson
import pytest

from loopdesk.tools.base import MAX_NAME
from loopdesk.tools.net import OutboundPolicy, safe_client
from loopdesk.tools.openapi.spec import (
    Operation,
    ParsedSpec,
    SpecError,
    fetch_document,
    load_document,
    parse_operations,
)
from tests.receiver import receiver

SWAGGER_PETSTORE = dedent(
    """
    swagger: "2.0"
    info: {title: Swagger Petstore, version: 1.0.7}
    host: petstore.swagger.io
    basePath: /v2
    schemes: [http, https]
    consumes: [application/json]
    paths:
      /pet:
        post:
          operationId: addPet
          summary: Add a new pet to the store
          parameters:
            - {in: body, name: body, required: true, description: The pet, schema: {$ref: "#/definitions/Pet"}}
          responses:
            405: {description: Invalid input}
      /pet/findByStatus:
        get:
          operationId: findPetsByStatus
          description: Multiple status values can be provided
          parameters:
            - name: status
              in: query
              required: true
              type: array
              items: {type: string, enum: [available, pending, sold]}
              collectionFormat: multi
          responses:
            200: {description: ok, schema: {type: array, items: {$ref: "#/definitions/Pet"}}}
      /pet/{petId}:
        parameters:
          - {name: petId, in: path, required: true, type: integer, format: int64}
        get:
          operationId: getPetById
          responses: {200: {description: ok}}
        post:
          operationId: updatePetWithForm
          consumes: [application/x-www-form-urlencoded]
          parameters:
            - {name: name, in: formData, type: string}
            - {name: status, in: formData, type: string, required: true}
          responses: {405: {description: Invalid input}}
        delete:
          operationId: deletePet
          parameters:
            - {name: api_key, in: header, type: string}
          responses: {400: {description: Invalid ID}}
      /pet/{petId}/uploadImage:
        post:
          operationId: uploadFile
          consumes: [multipart/form-data]
          parameters:
            - {name: petId, in: path, required: true, type: integer}
            - {name: file, in: formData, type: file}
          responses: {200: {description: ok}}
    securityDefinitions:
      api_key: {type: apiKey, name: api_key, in: header}
      petstore_auth: {type: oauth2, flow: implicit, authorizationUrl: "https://petstore.swagger.io/oauth/authorize"}
    definitions:
      Category:
        type: object
        properties: {id: {type: integer, format: int64}, name: {type: string}}
      Pet:
        type: object
        required: [name, photoUrls]
        properties:
          id: {type: integer, format: int64, readOnly: true}
          category: {$ref: "#/definitions/Category"}
          name: {type: string, example: doggie}
          photoUrls: {type: array, items: {type: string}}
          status: {type: string, enum: [available, pending, sold], x-nullable: true}
          age: {type: integer, minimum: 0, exclusiveMinimum: true}
    """
)

HELPDESK_30 = {
    "openapi": "3.0.3",
    "info": {"title": "Helpdesk", "version": "2"},
    "servers": [
        {
            "url": "https://{region}.api.example.com/{basePath}",
            "variables": {"region": {"default": "eu", "enum": ["eu", "us"]}, "basePath": {"default": "v1"}},
        }
    ],
    "paths": {
        "/tickets": {
            "get": {
                "operationId": "listTickets",
                "summary": "List tickets",
                "parameters": [
                    {"$ref": "#/components/parameters/Limit"},
                    {"name": "filter[status]", "in": "query", "schema": {"type": "string"}},
                    {"name": "X-Request-ID", "in": "header", "schema": {"type": "string"}},
                    {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "post": {
                "operationId": "createTicket",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {"$ref": "#/components/requestBodies/NewTicket"},
                "responses": {"201": {"description": "created"}},
            },
        },
        "/tickets/{ticket_id}": {
            "parameters": [
                {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "expand", "in": "query", "description": "path-level", "schema": {"type": "string"}},
            ],
            "get": {
                "operationId": "getTicket",
                "parameters": [
                    {
                        "name": "expand",
                        "in": "query",
                        "required": True,
                        "description": "operation-level",
                        "schema": {"type": "string", "enum": ["comments"]},
                    }
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "patch": {
                "operationId": "updateTicket",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/Tag~1v2~0beta"}}
                    },
                },
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/tickets/{ticket_id}/attachment": {
            "put": {
                "operationId": "putAttachment",
                "requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
                "responses": {"204": {"description": "stored"}},
            }
        },
    },
    "components": {
        "parameters": {
            "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}
        },
        "requestBodies": {
            "NewTicket": {
                "required": True,
                "description": "The new ticket",
                "content": {
                    "application/xml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/NewTicket"}},
                },
            }
        },
        "schemas": {
            "NewTicket": {
                "type": "object",
                "required": ["subject"],
                "properties": {
                    "subject": {"type": "string"},
                    "priority": {"type": "string", "enum": ["low", "high"], "nullable": True},
                    "assignee": {"allOf": [{"$ref": "#/components/schemas/User"}], "nullable": True},
                },
            },
            "User": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
            "Tag/v2~beta": {"type": "object", "properties": {"label": {"type": "string", "maxLength": 5}}},
        },
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
    },
}

NOTES_31 = dedent(
    """
    openapi: 3.1.0
    info: {title: Notes, version: "0.1"}
    servers: [{url: /api}]
    paths:
      /notes:
        get:
          operationId: listNotes
          parameters:
            - {name: tag, in: query, schema: {type: [string, "null"]}}
          responses:
            200: {description: ok}
        post:
          operationId: createNote
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Note"}
          responses:
            201: {description: created}
      /trees:
        post:
          operationId: createTree
          requestBody:
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Node"}
          responses:
            201: {description: created}
    webhooks:
      noteCreated:
        post:
          requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Note"}}}}
    components:
      schemas:
        Note:
          type: object
          required: [text]
          properties:
            text: {type: string, maxLength: 10}
            created: {type: string, format: date-time, readOnly: true, examples: [2024-01-01T00:00:00Z]}
            pinned: {type: [boolean, "null"], default: false}
            score: {type: number, exclusiveMinimum: 0}
        Node:
          type: object
          properties:
            name: {type: string}
            children: {type: array, items: {$ref: "#/components/schemas/Node"}}
    """
)


def ops(spec: ParsedSpec) -> dict[str, Operation]:
    return {op.tool_name: op for op in spec.operations}


def accepts(schema: dict, instance) -> bool:
    return jsonschema_rs.validator_for(schema).is_valid(instance)


def minimal(paths: dict, **extra) -> dict:
    return {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def get(operation_id: str | None = None, **extra) -> dict:
    return {
        "get": {"responses": {"200": {"description": "ok"}}, **extra}
        | ({"operationId": operation_id} if operation_id else {})
    }


# ---------------------------------------------------------------- three versions


async def test_swagger_2_petstore():
    spec = await parse_operations(load_document(SWAGGER_PETSTORE))
    assert (spec.title, spec.version, spec.spec_version) == ("Swagger Petstore", "1.0.7", "2.0")
    assert spec.base_url == "https://petstore.swagger.io/v2"
    by_name = ops(spec)
    assert list(by_name) == ["addPet", "findPetsByStatus", "getPetById", "updatePetWithForm", "deletePet", "uploadFile"]
    assert [op.index for op in spec.operations] == list(range(6))
    assert {name: op.side_effect for name, op in by_name.items()} == {
        "addPet": "write",
        "findPetsByStatus": "read",
        "getPetById": "read",
        "updatePetWithForm": "write",
        "deletePet": "destructive",
        "uploadFile": "write",
    }

    add = by_name["addPet"]
    assert add.body.content_type == "application/json" and add.body.required and add.body.arg == "body"
    assert add.description == "Add a new pet to the store"
    args = add.args_schema
    assert args["required"] == ["body"] and args["additionalProperties"] is False
    pet = args["properties"]["body"]
    assert pet["description"] == "The pet"
    assert pet["properties"]["category"]["properties"]["name"] == {"type": "string"}  # definitions inlined
    assert "id" not in pet["properties"]  # readOnly: not something a caller sends
    valid = {"name": "rex", "photoUrls": [], "status": None, "age": 1}
    assert accepts(args, {"body": valid})
    assert not accepts(args, {"body": {**valid, "age": 0}})  # exclusiveMinimum: true became a number
    assert not accepts(args, {"body": {**valid, "status": "lost"}})
    assert not accepts(args, {"body": valid, "extra": 1})

    find = by_name["findPetsByStatus"]
    (status,) = find.parameters
    assert (status.location, status.required, status.explode) == ("query", True, True)
    assert accepts(find.args_schema, {"status": ["sold", "pending"]})
    assert not accepts(find.args_schema, {"status": ["gone"]}) and not accepts(find.args_schema, {})

    assert [(p.name, p.location, p.required) for p in by_name["getPetById"].parameters] == [("petId", "path", True)]
    form = by_name["updatePetWithForm"]
    assert form.body.content_type == "application/x-www-form-urlencoded" and form.body.required
    assert form.args_schema["properties"]["body"]["required"] == ["status"]
    assert [p.name for p in by_name["deletePet"].parameters] == ["petId", "api_key"]
    upload = by_name["uploadFile"].body
    assert upload.content_type == "multipart/form-data"
    assert upload.schema["properties"]["file"] == {"type": "string", "format": "binary"}
    assert {"kind": "header", "name": "api_key", "scheme": "api_key"} in spec.auth_hints
    assert {"kind": "bearer", "name": "Authorization", "scheme": "petstore_auth"} in spec.auth_hints
    assert spec.warnings == []


async def test_openapi_3_0_helpdesk_from_json():
    spec = await parse_operations(load_document(orjson.dumps(HELPDESK_30)))
    assert spec.spec_version == "3.0"
    assert spec.base_url == "https://eu.api.example.com/v1"  # server variables take their defaults
    by_name = ops(spec)

    listing = by_name["listTickets"]
    assert [(p.name, p.location, p.arg) for p in listing.parameters] == [
        ("limit", "query", "limit"),
        ("filter[status]", "query", "filter_status"),
        ("X-Request-ID", "header", "X-Request-ID"),
        ("session", "cookie", "session"),
    ]  # Accept is the HTTP layer's
    assert accepts(listing.args_schema, {"limit": 5, "filter_status": "open"})
    assert not accepts(listing.args_schema, {"limit": 500})

    create = by_name["createTicket"]
    assert create.side_effect == "write"
    assert "Idempotency-Key" not in create.args_schema["properties"]  # the source sends the call's own key
    assert create.body.content_type == "application/json" and create.body.required  # JSON preferred to XML
    body = create.args_schema["properties"]["body"]
    assert body["description"] == "The new ticket"
    assert accepts(body, {"subject": "help", "priority": None, "assignee": None})
    assert accepts(body, {"subject": "help", "priority": "low", "assignee": {"id": 3}})
    assert not accepts(body, {"subject": "help", "priority": "urgent"})
    assert not accepts(body, {"subject": "help", "assignee": {}})

    ticket = by_name["getTicket"]
    params = {p.name: p for p in ticket.parameters}
    assert set(params) == {"ticket_id", "expand"}  # path-level and operation-level merged
    assert params["expand"].required and params["expand"].schema["description"] == "operation-level"
    assert ticket.args_schema["required"] == ["ticket_id", "expand"]
    assert not accepts(ticket.args_schema, {"ticket_id": "1", "expand": "other"})

    update = by_name["updateTicket"]
    assert update.body.content_type == "application/merge-patch+json"
    assert update.body.schema["properties"]["label"]["maxLength"] == 5  # ~1 and ~0 in the pointer
    assert [p.name for p in update.parameters] == ["ticket_id", "expand"]

    attachment = by_name["putAttachment"]
    assert attachment.enabled is False and attachment.body is None
    assert (
        "PUT /tickets/{ticket_id}/attachment is disabled: its request body types (application/octet-stream) "
        "are not supported" in spec.warnings
    )
    assert spec.auth_hints == [{"kind": "bearer", "name": "Authorization", "scheme": "token"}]


async def test_openapi_3_1_notes_from_yaml_with_a_relative_server():
    document = load_document(NOTES_31)
    assert document["paths"]["/notes"]["get"]["responses"]["200"] == {"description": "ok"}  # integer keys as text
    spec = await parse_operations(document, source_url="https://notes.example.com/openapi.yaml")
    assert spec.spec_version == "3.1" and spec.base_url == "https://notes.example.com/api"
    by_name = ops(spec)
    assert list(by_name) == ["listNotes", "createNote", "createTree"]  # webhooks are not operations

    assert accepts(by_name["listNotes"].args_schema, {"tag": None})
    create = by_name["createNote"].args_schema
    note = create["properties"]["body"]
    assert set(note["properties"]) == {"text", "pinned", "score"}
    assert accepts(create, {"body": {"text": "hi", "pinned": None, "score": 0.5}})
    assert not accepts(create, {"body": {"text": "hi", "score": 0}})
    assert not accepts(create, {"body": {"text": "x" * 11}})

    unknown = await parse_operations(document)
    assert unknown.base_url is None
    assert any("relative" in warning for warning in unknown.warnings)


async def test_yaml_timestamps_stay_text():
    document = load_document(NOTES_31)
    created = document["components"]["schemas"]["Note"]["properties"]["created"]
    assert created["examples"] == ["2024-01-01T00:00:00Z"]
    orjson.dumps(document)  # JSON all the way down


# ---------------------------------------------------------------- $ref


async def test_a_recursive_schema_ends_in_a_stub():
    spec = await parse_operations(load_document(NOTES_31))
    node = ops(spec)["createTree"].args_schema["properties"]["body"]
    stub = node["properties"]["children"]["items"]
    assert stub["type"] == "object" and "recursive" in stub["description"] and "Node" in stub["description"]
    assert accepts(node, {"name": "root", "children": [{"name": "leaf", "children": []}]})


async def test_mutually_recursive_schemas_end_in_a_stub():
    document = minimal(
        {
            "/a": {
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}
                }
            }
        },
        components={
            "schemas": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
                "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
            }
        },
    )
    (op,) = (await parse_operations(document)).operations
    assert op.tool_name == "post_a"
    assert "recursive reference to A" in op.body.schema["properties"]["b"]["properties"]["a"]["description"]


async def test_a_ref_bomb_stops_at_the_expansion_budget():
    # Ten references to the next level, eight levels: 10^8 nodes once inlined.
    schemas = {
        f"L{i}": {
            "type": "object",
            "properties": {f"p{k}": {"$ref": f"#/components/schemas/L{i + 1}"} for k in range(10)},
        }
        for i in range(8)
    }
    schemas["L8"] = {"type": "string"}
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/L0"}}}}
    document = minimal({"/boom": {"post": {"requestBody": body}}}, components={"schemas": schemas})
    started = time.monotonic()
    with pytest.raises(SpecError, match=r"\$ref expansion exceeds 250,000 schema nodes"):
        await parse_operations(document)
    assert time.monotonic() - started < 10
    small = {**schemas, "L3": {"type": "string"}}  # 10^3 leaves: within the budget
    (op,) = (await parse_operations(minimal(document["paths"], components={"schemas": small}))).operations
    assert op.body.schema["properties"]["p0"]["properties"]["p9"]["properties"]["p5"] == {"type": "string"}
    with pytest.raises(SpecError, match="exceeds 1,000 schema nodes"):
        await parse_operations(minimal(document["paths"], components={"schemas": small}), max_nodes=1000)


async def test_schemas_nesting_too_deep_are_refused():
    def nested(levels: int) -> dict:
        schema: dict = {"type": "string"}
        for _ in range(levels):
            schema = {"type": "array", "items": schema}
        return minimal({"/x": {"put": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}})

    with pytest.raises(SpecError, match="schemas nest more than 150 levels deep"):
        await parse_operations(nested(200))
    (op,) = (await parse_operations(nested(60))).operations
    assert accepts(op.args_schema, {"body": [[[]]]})


async def test_external_refs_are_fetched_once_each_relative_to_their_document():
    root = dedent(
        """
        openapi: 3.0.0
        info: {title: Pets, version: "1"}
        paths:
          /pets:
            post:
              operationId: createPet
              requestBody:
                content:
                  application/json:
                    schema: {$ref: "schemas/pet.yaml#/Pet"}
              responses:
                default: {$ref: "https://common.example.org/errors.json#/components/responses/Problem"}
          /pets/{id}:
            get:
              operationId: getPet
              parameters:
                - {$ref: "schemas/pet.yaml#/IdParam"}
                - name: fields
                  in: query
                  schema: {$ref: "https://common.example.org/errors.json#/components/schemas/Fields"}
          /owners:
            $ref: "paths/owners.yaml"
        """
    )
    documents = {
        "https://api.example.com/specs/schemas/pet.yaml": {
            "Pet": {
                "type": "object",
                "properties": {"tag": {"$ref": "#/Tag"}, "id": {"$ref": "../shared/ids.yaml#/Id"}},
            },
            "Tag": {"type": "string", "maxLength": 8},
            "IdParam": {"name": "id", "in": "path", "required": True, "schema": {"$ref": "../shared/ids.yaml#/Id"}},
        },
        "https://api.example.com/specs/shared/ids.yaml": {"Id": {"type": "string", "pattern": "^p[0-9]+$"}},
        "https://common.example.org/errors.json": {
            "components": {"schemas": {"Fields": {"type": "array", "items": {"type": "string"}}}}
        },
        "https://api.example.com/specs/paths/owners.yaml": {
            "get": {"operationId": "listOwners", "parameters": [{"$ref": "#/components/parameters/Page"}]},
            "components": {"parameters": {"Page": {"name": "page", "in": "query", "schema": {"type": "integer"}}}},
        },
    }
    fetched: list[str] = []

    async def fetch(url: str) -> dict:
        fetched.append(url)
        return documents[url]

    spec = await parse_operations(
        load_document(root), fetch_external=fetch, source_url="https://api.example.com/specs/openapi.yaml"
    )
    assert sorted(fetched) == sorted(documents) and len(fetched) == len(set(fetched))
    by_name = ops(spec)
    pet = by_name["createPet"].body.schema
    assert pet["properties"]["tag"] == {"type": "string", "maxLength": 8}
    assert pet["properties"]["id"]["pattern"] == "^p[0-9]+$"
    get_pet = by_name["getPet"].args_schema
    assert accepts(get_pet, {"id": "p12", "fields": ["name"]}) and not accepts(get_pet, {"id": "12"})
    assert [p.name for p in by_name["listOwners"].parameters] == ["page"]  # a path item in another document


async def test_external_refs_without_a_fetcher_or_a_base_are_refused():
    document = minimal({"/x": {"get": {"parameters": [{"$ref": "other.yaml#/P"}]}}})
    with pytest.raises(SpecError, match="not fetched here"):
        await parse_operations(document, source_url="https://example.com/openapi.json")

    async def never(url: str) -> dict:
        raise AssertionError(url)

    with pytest.raises(SpecError, match="URL is unknown"):
        await parse_operations(document, fetch_external=never)
    local_file = minimal({"/x": {"get": {"parameters": [{"$ref": "file:///etc/passwd#/P"}]}}})
    with pytest.raises(SpecError, match="only http"):
        await parse_operations(local_file, fetch_external=never)


async def test_a_failing_external_fetch_names_the_reference():
    document = minimal({"/x": {"get": {"parameters": [{"$ref": "other.yaml#/P"}]}}})

    async def failing(url: str) -> dict:
        raise SpecError("GET https://example.com/other.yaml answered HTTP 404")

    with pytest.raises(SpecError, match=r"\$ref 'other.yaml#/P': GET .* answered HTTP 404"):
        await parse_operations(document, fetch_external=failing, source_url="https://example.com/openapi.json")


async def test_at_most_20_external_documents():
    parameters = [{"$ref": f"d{i}.yaml#/P"} for i in range(25)]
    document = minimal({"/x": {"get": {"parameters": parameters}}})

    async def fetch(url: str) -> dict:
        return {"P": {"name": url.rsplit("/", 1)[1], "in": "query", "schema": {"type": "string"}}}

    with pytest.raises(SpecError, match="more than 20 other documents"):
        await parse_operations(document, fetch_external=fetch, source_url="https://example.com/openapi.json")
    document["paths"]["/x"]["get"]["parameters"] = parameters[:20]
    (op,) = (await parse_operations(document, fetch_external=fetch, source_url="https://example.com/a.json")).operations
    assert len(op.parameters) == 20


async def test_properties_named_like_keywords_are_resolved_and_examples_are_not():
    schema = {
        "type": "object",
        "properties": {
            "default": {"$ref": "#/components/schemas/Code"},
            "enum": {"$ref": "#/components/schemas/Code"},
        },
        "example": {"$ref": "https://attacker.example/x.json#/y"},
    }
    document = minimal(
        {"/settings": {"put": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}},
        components={"schemas": {"Code": {"type": "string", "pattern": "^[A-Z]{3}$"}}},
    )
    fetched: list[str] = []

    async def fetch(url: str) -> dict:
        fetched.append(url)
        return {}

    (op,) = (await parse_operations(document, fetch_external=fetch, source_url="https://api.example.com/")).operations
    body = op.body.schema
    assert body["properties"]["default"] == body["properties"]["enum"] == {"type": "string", "pattern": "^[A-Z]{3}$"}
    assert body["example"] == {"$ref": "https://attacker.example/x.json#/y"} and fetched == []  # data, not a reference
    assert accepts(body, {"default": "EUR"}) and not accepts(body, {"enum": "euro"})


async def test_a_ref_to_nothing_is_refused():
    document = minimal({"/x": {"get": {"parameters": [{"$ref": "#/components/parameters/Missing"}]}}})
    with pytest.raises(SpecError, match="points to nothing"):
        await parse_operations(document)


# ---------------------------------------------------------------- refused documents


def test_invalid_yaml_names_the_line():
    with pytest.raises(SpecError) as caught:
        load_document("openapi: 3.0.0\ninfo:\n  title: [unclosed\npaths: {}\n")
    assert re.match(r"invalid YAML at line \d+, column \d+: ", caught.value.reason), caught.value.reason
    with pytest.raises(SpecError, match=r"invalid YAML at line 3, column 1"):
        load_document("openapi: 3.0.0\ninfo: {}\n- not: a mapping entry\n")


def test_invalid_json_names_the_line():
    with pytest.raises(SpecError, match=r"invalid JSON at line 2, column \d+"):
        load_document('{"openapi": "3.0.0",\n "paths": {]}')


def test_a_yaml_alias_bomb_is_refused():
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    started = time.monotonic()
    with pytest.raises(SpecError, match="expands to more than 1,000,000 values"):
        load_document("\n".join(levels))  # 72 aliases, 9^9 values
    many = "base: &b {x: 1}\n" + "".join(f"k{i}: *b\n" for i in range(101))
    with pytest.raises(SpecError, match="more than 100 aliases"):
        load_document(many)
    assert time.monotonic() - started < 10
    merged = load_document("defaults: &d {type: string}\nname: {<<: *d, maxLength: 3}\n")
    assert merged["name"] == {"type": "string", "maxLength": 3}  # a few anchors are fine


def test_deep_nesting_is_refused_before_the_parser_recurses():
    # libyaml composes recursively in C: 100,000 levels would overflow the stack and kill the process.
    with pytest.raises(SpecError, match="nests deeper than 200 levels"):
        load_document("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpecError, match=r"nests deeper than 200 levels \(line 201\)"):
        load_document("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 3000)))
    with pytest.raises(SpecError, match="nests deeper than 200 levels"):
        load_document("- " * 50_000 + "x")
    nested = load_document("a: " + "[" * 150 + "]" * 150)["a"]  # deep, but within the limit
    for _ in range(149):
        (nested,) = nested
    assert nested == []


def test_yaml_types_json_cannot_hold_are_refused():
    with pytest.raises(SpecError, match="no JSON equivalent"):
        load_document("openapi: 3.0.0\nlogo: !!binary aGVsbG8=\n")
    with pytest.raises(SpecError, match="no JSON equivalent"):
        load_document("openapi: 3.0.0\ntags: !!set {a, b}\n")
    with pytest.raises(SpecError, match="no JSON equivalent"):
        load_document("openapi: 3.0.0\nmax: .nan\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_document("openapi: !!python/object:os.system {}\n")


def test_the_size_limit():
    with pytest.raises(SpecError) as caught:
        load_document(b"{" + b" " * (6 * 1024 * 1024 - 2) + b"}")
    assert caught.value.reason == "document is 6,291,456 bytes; the limit is 5,242,880"
    assert load_document(b'{"a": 1}', max_bytes=8) == {"a": 1}
    with pytest.raises(SpecError, match="document is 9 bytes; the limit is 8"):
        load_document(b'{"a": 10}', max_bytes=8)


@pytest.mark.parametrize(
    ("raw", "what"),
    [("- a\n- b\n", "a list"), ("[1, 2]", "a list"), ("just text", "a string"), ("", "empty"), ("42", "int")],
)
def test_the_top_level_must_be_a_mapping(raw, what):
    with pytest.raises(SpecError, match=f"top level must be a mapping, not {what}"):
        load_document(raw)


async def test_documents_that_are_not_openapi_or_define_no_paths():
    with pytest.raises(SpecError, match=r"not an OpenAPI 3.x or Swagger 2.0 document \(neither"):
        await parse_operations({"info": {"title": "x"}})
    with pytest.raises(SpecError, match=r"not an OpenAPI 3.x or Swagger 2.0 document \(openapi: 4.0.0\)"):
        await parse_operations({"openapi": "4.0.0", "paths": {}})
    with pytest.raises(SpecError, match="no `paths`"):
        await parse_operations({"openapi": "3.0.3", "info": {"title": "x", "version": "1"}})
    with pytest.raises(SpecError, match="no `paths`"):
        await parse_operations(load_document("swagger: 2.0\ninfo: {title: x, version: 1}\n"))


async def test_the_operation_count_limit():
    paths = {f"/r{i}": get() for i in range(501)}
    with pytest.raises(SpecError, match="defines 501 operations; the limit is 500"):
        await parse_operations(minimal(paths))
    del paths["/r500"]
    assert len((await parse_operations(minimal(paths))).operations) == 500


# ---------------------------------------------------------------- names and arguments


async def test_tool_names_are_sanitised_unique_and_at_most_64_characters():
    long_id = "retrieveTheCompleteHistoryOfEveryInvoiceLineItemForTheGivenCustomerAccount" * 2
    paths = {
        "/users/{id}": get("get user/by id"),
        "/items": get("listItems"),
        "/items2": get("listItems"),
        "/items3": get("ListItems"),
        "/a": get(long_id),
        "/b": get(long_id),
        "/things/{thing_id}/parts": get(),
        "/" + "very-long-segment/" * 8 + "{x}": get(),
    }
    spec = await parse_operations(minimal(paths))
    names = [op.tool_name for op in spec.operations]
    assert names[:4] == ["get_user_by_id", "listItems", "listItems_2", "ListItems_3"]
    assert names[4] == long_id[:MAX_NAME] and names[5] == long_id[: MAX_NAME - 2] + "_2"
    assert names[6] == "get_things_thing_id_parts"
    assert names[7] == ("get_" + "_".join(["very-long-segment"] * 8))[:MAX_NAME]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) for name in names)
    assert len({name.lower() for name in names}) == len(names)
    assert spec.operations[0].operation_id == "get user/by id"


async def test_argument_names_are_safe_and_do_not_collide():
    parameters = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
        {"name": "id", "in": "query", "schema": {"type": "string"}},
        {"name": "id", "in": "header", "schema": {"type": "string"}},
        {"name": "body", "in": "query", "schema": {"type": "string"}},
        {"name": "fields[]", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
        {"name": "ünïcode name", "in": "query", "schema": {"type": "string"}},
    ]
    body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    paths = {"/things/{id}": {"post": {"operationId": "makeThing", "parameters": parameters, "requestBody": body}}}
    (op,) = (await parse_operations(minimal(paths))).operations
    assert [(p.name, p.arg) for p in op.parameters] == [
        ("id", "id"),
        ("id", "query_id"),
        ("id", "header_id"),
        ("body", "body"),
        ("fields[]", "fields"),
        ("ünïcode name", "n_code_name"),
    ]
    assert op.body.arg == "request_body"
    assert list(op.args_schema["properties"]) == [*(p.arg for p in op.parameters), "request_body"]
    assert op.args_schema["required"] == ["id", "request_body"]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) for name in op.args_schema["properties"])


async def test_undeclared_path_parameters_and_invalid_schemas_are_warned_about():
    paths = {
        "/orders/{order_id}/lines/{line}": {
            "get": {
                "operationId": "getLine",
                "parameters": [
                    {"name": "order_id", "in": "path", "required": True, "schema": {"type": "int"}},
                    {"name": "gone", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            }
        }
    }
    spec = await parse_operations(minimal(paths))
    (op,) = spec.operations
    assert [(p.name, p.schema) for p in op.parameters] == [("order_id", {}), ("line", {"type": "string"})]
    assert op.args_schema["required"] == ["order_id", "line"]
    joined = "\n".join(spec.warnings)
    assert "parameter order_id: the schema is not valid JSON Schema" in joined
    assert "'gone' is not in the path" in joined and "'line' is not declared" in joined
    jsonschema_rs.validator_for(op.args_schema)


async def test_descriptions_join_summary_and_description_and_are_trimmed():
    paths = {
        "/a": get("a", summary="Short", description="Longer text.", deprecated=True),
        "/b": get("b", description="x" * 5000),
        "/c": get("c"),
    }
    a, b, c = (await parse_operations(minimal(paths))).operations
    assert a.description == "(deprecated) Short\n\nLonger text."
    assert len(b.description) == 1000 and b.description.endswith("…")
    assert c.description == "GET /c"


async def test_swagger_base_url_from_the_document_url_and_a_missing_host():
    document = load_document("swagger: '2.0'\ninfo: {title: x, version: '1'}\nbasePath: /api\npaths: {}\n")
    assert (await parse_operations(document, source_url="http://10.1.2.3:8080/spec.json")).base_url == (
        "http://10.1.2.3:8080/api"
    )
    spec = await parse_operations(document)
    assert spec.base_url is None and any("no host" in w for w in spec.warnings)


async def test_a_swagger_body_only_in_xml_disables_the_operation():
    document = load_document(
        dedent(
            """
            swagger: "2.0"
            info: {title: x, version: "1"}
            host: api.example.com
            consumes: [application/xml]
            paths:
              /pets:
                post:
                  operationId: addPet
                  parameters: [{in: body, name: body, schema: {type: object}}]
                put:
                  operationId: updatePet
                  consumes: [application/xml, text/plain]
                  parameters: [{in: body, name: body, required: true, schema: {type: string}}]
            """
        )
    )
    spec = await parse_operations(document)
    add, update = spec.operations
    assert add.enabled is False and add.body is None
    assert "POST /pets is disabled: its request body types (application/xml) are not supported" in spec.warnings
    assert update.enabled and update.body.content_type == "text/plain" and update.body.required


async def test_operations_survive_a_round_trip_through_json():
    spec = await parse_operations(load_document(SWAGGER_PETSTORE))
    stored = orjson.loads(orjson.dumps(spec.to_dict()))
    again = ParsedSpec.from_dict(stored)
    assert again == spec
    assert Operation.from_dict({**stored["operations"][0], "future_field": 1}) == spec.operations[0]


# ---------------------------------------------------------------- fetching


async def test_fetch_document_through_the_safe_client():
    async with receiver() as server:
        policy = OutboundPolicy.from_allowlist(["127.0.0.1"])
        async with safe_client(policy) as client:
            assert load_document(await fetch_document(f"{server.url}/hook", client)) == {"ok": True}
            with pytest.raises(SpecError, match=r"answered HTTP 404"):
                await fetch_document(f"{server.url}/missing.yaml", client)
            for chunked in ("", "1"):
                with pytest.raises(SpecError, match="larger than the limit of 1,000 bytes"):
                    await fetch_document(f"{server.url}/big?size=5000&chunked={chunked}", client, max_bytes=1000)
        async with safe_client(OutboundPolicy()) as client:
            with pytest.raises(SpecError) as caught:
                await fetch_document(f"{server.url}/hook", client)
        assert caught.value.reason.startswith("refused: 127.0.0.1 resolves to a private")
        assert len(server.received) == 1  # the refused request never left
