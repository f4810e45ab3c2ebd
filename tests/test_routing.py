"""
Tests for gateway.routing: upstream selection, route matching, rendering, the default action.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import RouteSettings, UpstreamSettings, settings_from_mapping
from gateway.errors import ConfigError, InvalidInput
from gateway.normalize import encode_path, normalize_path
from gateway.routing import RouteMatch, RouteTable, default_action
from gateway.types import RequestView

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ARN = f"arn:aws:backup:{REGION}:{ACCOUNT}"


def _route(methods: list[str], path: str, action: str, resource: str, **extra: object) -> object:
    return {"methods": methods, "path": path, "action": action, "resource": resource, **extra}


BACKUP = {
    "name": "backup",
    "url": "http://127.0.0.1:9000",
    "prefix": "/backup",
    "service": "backup",
    "routes": [
        _route(
            ["GET"],
            "/buckets/{bucket}/objects/{key:path}",
            "backup:GetObject",
            "arn:aws:backup:{region}:{account}:bucket/{bucket}/{key}",
            condition_keys={"backup:Prefix": "{key}", "backup:BucketName": "{bucket}"},
        ),
        _route(
            ["PUT"],
            "/buckets/{bucket}/objects/{key:path}",
            "backup:PutObject",
            "arn:aws:backup:{region}:{account}:bucket/{bucket}/{key}",
            unsigned_payload=True,
        ),
        _route(
            ["GET"],
            "/buckets/{bucket}",
            "backup:ListObjects",
            "arn:aws:backup:{region}:{account}:bucket/{bucket}",
        ),
        _route(
            ["*"],
            "/buckets/{bucket}/admin/",
            "backup:Administer",
            "arn:aws:backup:{region}:{account}:bucket/{bucket}",
        ),
        _route(
            ["GET", "POST"],
            "/tenants/{tenant}/vaults/{vault}",
            "backup:UseVault",
            "arn:aws:backup:{region}:{tenant}:vault/{vault}",
        ),
        _route(["GET"], "/", "backup:ListBuckets", "arn:aws:backup:{region}:{account}:bucket/*"),
    ],
}
ARCHIVE = {
    "name": "archive",
    "url": "http://127.0.0.1:9001",
    "prefix": "/backup/archive",
    "service": "archive",
    "strip_prefix": False,
    "routes": [
        _route(
            ["GET"],
            "/{year}/{name}",
            "archive:GetArchive",
            "arn:aws:archive:{region}:{account}:archive/{year}/{name}",
        ),
    ],
}
FILES = {
    "name": "files",
    "url": "http://127.0.0.1:9002",
    "host": "files.internal:8443",
    "service": "files",
    "routes": [
        _route(
            ["GET"],
            "/files/{name}",
            "files:GetFile",
            "arn:aws:files:{region}:{account}:file/{name}",
        ),
    ],
}
WEB = {"name": "web", "url": "http://127.0.0.1:9003", "prefix": "/", "service": "web"}


def _upstreams(*tables: object) -> tuple[UpstreamSettings, ...]:
    return settings_from_mapping({"upstreams": list(tables)}, environ={}).upstreams


TABLE = RouteTable.compile(_upstreams(BACKUP, ARCHIVE, FILES, WEB), region=REGION)


def _view(method: str, path: str, host: str = "gateway.test") -> RequestView:
    headers = (("host", host),) if host else ()
    return RequestView(method, path, path, "", headers)


def _match(method: str, path: str, host: str = "gateway.test") -> RouteMatch:
    match = TABLE.match(_view(method, path, host), account=ACCOUNT)
    assert match is not None
    return match


# --- choosing the upstream -----------------------------------------------------------------------

UPSTREAMS = [
    # by prefix, on a segment boundary
    ("/backup", "", "backup", "/"),
    ("/backup/", "", "backup", "/"),
    ("/backup/buckets", "", "backup", "/buckets"),
    ("/backupX", "", "web", "/backupX"),
    ("/backup-old/x", "", "web", "/backup-old/x"),
    ("/backup/archived", "", "backup", "/archived"),
    # the longest prefix wins; strip_prefix = false forwards the whole path
    ("/backup/archive", "", "archive", "/backup/archive"),
    ("/backup/archive/2024/db.tar", "", "archive", "/backup/archive/2024/db.tar"),
    # prefixes are case-sensitive, like the path
    ("/Backup/buckets", "", "web", "/Backup/buckets"),
    # a Host upstream wins over prefixes, case-, port- and trailing-dot-insensitive
    ("/backup/buckets", "files.internal", "files", "/backup/buckets"),
    ("/files/a", "FILES.Internal:8443", "files", "/files/a"),
    ("/files/a", "files.internal:1", "files", "/files/a"),
    ("/files/a", "files.internal.", "files", "/files/a"),
    # an unknown or missing Host falls back to the prefixes
    ("/backup/buckets", "other.internal", "backup", "/buckets"),
    ("/backup/buckets", "", "backup", "/buckets"),
    ("/files/a", "files.internal.evil", "web", "/files/a"),
]


@pytest.mark.parametrize(("path", "host", "upstream", "forward_path"), UPSTREAMS)
def test_upstream_selection(path: str, host: str, upstream: str, forward_path: str) -> None:
    """The Host header picks a host upstream, else the longest prefix on a segment boundary."""
    match = _match("GET", path, host)
    assert (match.upstream.name, match.forward_path) == (upstream, forward_path)


def test_no_upstream_is_none() -> None:
    """A path no upstream serves matches nothing, so the edge answers 404."""
    table = RouteTable.compile(_upstreams(BACKUP, FILES), region=REGION)
    assert table.match(_view("GET", "/backupX"), account=ACCOUNT) is None
    assert table.match(_view("GET", "/"), account=ACCOUNT) is None


def test_upstream_is_the_configured_one() -> None:
    """Settings loaded from the file pass compile unchanged and come back in the match."""
    upstreams = _upstreams(BACKUP, ARCHIVE, FILES, WEB)
    assert _match("GET", "/backup/buckets/b").upstream == upstreams[0]
    assert _match("GET", "/backup/buckets/b").route == upstreams[0].routes[2]


# --- choosing the route --------------------------------------------------------------------------

ROUTES = [
    # methods, in route order
    ("GET", "/backup/buckets/b/objects/k", "backup:GetObject"),
    ("PUT", "/backup/buckets/b/objects/k", "backup:PutObject"),
    ("DELETE", "/backup/buckets/b/objects/k", "backup:Delete"),
    ("POST", "/backup/tenants/111122223333/vaults/v", "backup:UseVault"),
    ("PATCH", "/backup/tenants/111122223333/vaults/v", "backup:Patch"),
    # HEAD needs what GET needs
    ("HEAD", "/backup/buckets/b/objects/k", "backup:GetObject"),
    ("HEAD", "/backup/buckets/b", "backup:ListObjects"),
    # `*` takes any method
    ("GET", "/backup/buckets/b/admin", "backup:Administer"),
    ("DELETE", "/backup/buckets/b/admin/", "backup:Administer"),
    ("PROPFIND", "/backup/buckets/b/admin", "backup:Administer"),
    # a trailing slash is optional on both sides
    ("GET", "/backup/buckets/b", "backup:ListObjects"),
    ("GET", "/backup/buckets/b/", "backup:ListObjects"),
    ("GET", "/backup", "backup:ListBuckets"),
    ("GET", "/backup/", "backup:ListBuckets"),
    # `{name}` is one non-empty segment; `{name:path}` is at least one
    ("GET", "/backup/buckets/b/c", "backup:Get"),
    ("GET", "/backup/buckets/b/objects", "backup:Get"),
    ("GET", "/backup/buckets/b/objects/", "backup:Get"),
    ("GET", "/backup/buckets", "backup:Get"),
    # literal segments are case-sensitive
    ("GET", "/backup/Buckets/b", "backup:Get"),
    ("GET", "/backup/buckets/b/Admin", "backup:Get"),
    # matching is below the prefix even when the prefix is forwarded
    ("GET", "/backup/archive/2024/db.tar", "archive:GetArchive"),
    ("GET", "/backup/archive/2024", "archive:Get"),
]


@pytest.mark.parametrize(("method", "path", "action"), ROUTES)
def test_route_selection(method: str, path: str, action: str) -> None:
    """The first route whose methods and template match wins, else the default action."""
    assert _match(method, path).action == action


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/backup/buckets/b/objects/k", {"bucket": "b", "key": "k"}),
        ("/backup/buckets/b/objects/a/b/c", {"bucket": "b", "key": "a/b/c"}),
        ("/backup/buckets/b/objects/dir/", {"bucket": "b", "key": "dir/"}),
        ("/backup/buckets/b/objects/db:main.tar", {"bucket": "b", "key": "db:main.tar"}),
        ("/backup/buckets/my bucket/objects/%2e%2e", {"bucket": "my bucket", "key": "%2e%2e"}),
        ("/backup/buckets/b/", {"bucket": "b"}),
    ],
)
def test_route_params(path: str, params: dict[str, str]) -> None:
    """Path parameters are the decoded segments, `{name:path}` keeping its slashes."""
    assert _match("GET", path).params == params


# --- rendering -----------------------------------------------------------------------------------


def test_route_renders_resource_and_context() -> None:
    """Parameters, region and account render into the resource and condition keys."""
    match = _match("GET", "/backup/buckets/prod/objects/2024/01/db.tar")
    assert match.resource == f"{ARN}:bucket/prod/2024/01/db.tar"
    assert match.context == {"backup:Prefix": "2024/01/db.tar", "backup:BucketName": "prod"}
    assert match.unsigned_payload is False
    assert match.forward_path == "/buckets/prod/objects/2024/01/db.tar"


def test_route_unsigned_payload() -> None:
    """A route's unsigned_payload flag is carried into the match."""
    assert _match("PUT", "/backup/buckets/b/objects/k").unsigned_payload is True


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        # `*` and `?` from the path are literal characters in the resource, never wildcards
        ("/backup/buckets/prod*/objects/a?b", f"{ARN}:bucket/prod*/a?b"),
        ("/backup/buckets/*/objects/*", f"{ARN}:bucket/*/*"),
        # `:` and `/` in `{key:path}` render literally
        ("/backup/buckets/b/objects/x:y/z:w", f"{ARN}:bucket/b/x:y/z:w"),
        ("/backup/buckets/b/objects/arn:aws:backup:x:1:y", f"{ARN}:bucket/b/arn:aws:backup:x:1:y"),
        # policy-variable syntax is plain text
        ("/backup/buckets/${aws:username}/objects/k", f"{ARN}:bucket/${{aws:username}}/k"),
    ],
)
def test_route_renders_literally(path: str, resource: str) -> None:
    """Values from the path render into the ARN as literal text."""
    assert _match("GET", path).resource == resource


def test_segment_parameter_never_holds_a_slash() -> None:
    """`{bucket}` cannot span two segments: `/buckets/a/b` is not the bucket `a/b`."""
    match = _match("GET", "/backup/buckets/a/b")
    assert match.route is None
    assert "bucket" not in match.params


def test_arn_head_parameter_refuses_a_colon() -> None:
    """A parameter rendered into the ARN's account field cannot shift the ARN's fields."""
    match = _match("GET", "/backup/tenants/111122223333/vaults/a:b")
    assert match.resource == f"arn:aws:backup:{REGION}:111122223333:vault/a:b"
    with pytest.raises(InvalidInput, match="path parameter `tenant` must not contain `:`"):
        _match("GET", "/backup/tenants/1:vault/vaults/v")


# --- the default action --------------------------------------------------------------------------


def test_default_route() -> None:
    """An unrouted request gets `<service>:<Method>` on a `path/` ARN, and nothing else."""
    match = _match("DELETE", "/backup/buckets/b/objects/k")
    assert match.route is None
    assert match.action == "backup:Delete"
    assert match.resource == f"{ARN}:path/buckets/b/objects/k"
    assert (match.context, match.params, match.unsigned_payload) == ({}, {}, False)
    assert match.forward_path == "/buckets/b/objects/k"


@pytest.mark.parametrize(
    ("method", "path", "resource"),
    [
        ("GET", "/backup/buckets/b/c", f"{ARN}:path/buckets/b/c"),
        ("POST", "/backup/", f"{ARN}:path/"),
        ("GET", "/anything/else", f"arn:aws:web:{REGION}:{ACCOUNT}:path/anything/else"),
        ("GET", "/files/a/b", f"arn:aws:files:{REGION}:{ACCOUNT}:path/files/a/b"),
        # with strip_prefix = false, the forwarded path (prefix included) names the resource
        ("GET", "/backup/archive/x", f"arn:aws:archive:{REGION}:{ACCOUNT}:path/backup/archive/x"),
    ],
)
def test_default_resource(method: str, path: str, resource: str) -> None:
    """The default resource is the forwarded path under `path/`."""
    host = "files.internal" if path.startswith("/files") else ""
    assert _match(method, path, host).resource == resource


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("GET", "backup:Get"),
        ("HEAD", "backup:Head"),
        ("POST", "backup:Post"),
        ("PUT", "backup:Put"),
        ("DELETE", "backup:Delete"),
        ("OPTIONS", "backup:Options"),
        ("PATCH", "backup:Patch"),
        ("PROPFIND", "backup:Propfind"),
        ("VERSION-CONTROL", "backup:VersionControl"),
        ("M-SEARCH", "backup:MSearch"),
    ],
)
def test_default_action(method: str, action: str) -> None:
    """The default action spells the method as an AWS verb."""
    assert default_action("backup", method) == action


# --- the invariant: what is authorized is what is forwarded --------------------------------------

BYPASSES = [
    # dot segments resolve before matching: the route seen is the route forwarded
    ("/backup/buckets/secret/../public/objects/x", "public", "/buckets/public/objects/x"),
    ("/backup/buckets/secret/x/../../public/objects/x", "public", "/buckets/public/objects/x"),
    (
        "/backup/buckets/public/objects/../../secret/objects/x",
        "secret",
        "/buckets/secret/objects/x",
    ),
    ("/backup//buckets//secret/objects/x", "secret", "/buckets/secret/objects/x"),
    ("/backup/./buckets/secret/./objects/x", "secret", "/buckets/secret/objects/x"),
    ("/web/../backup/buckets/secret/objects/x", "secret", "/buckets/secret/objects/x"),
]


@pytest.mark.parametrize(("raw", "bucket", "forward_path"), BYPASSES)
def test_normalization_bypass_is_authorized_as_forwarded(
    raw: str, bucket: str, forward_path: str
) -> None:
    """A path that resolves elsewhere is authorized for where it resolves, and sent there."""
    view = _view("GET", normalize_path(raw))
    match = TABLE.match(view, account=ACCOUNT)
    assert match is not None
    assert match.action == "backup:GetObject"
    assert match.params["bucket"] == bucket
    assert match.resource == f"{ARN}:bucket/{bucket}/x"
    assert match.forward_path == forward_path
    assert "/backup" + match.forward_path == view.path
    assert normalize_path(encode_path(match.forward_path)) == match.forward_path


@pytest.mark.parametrize(
    "raw",
    [
        "/backup/buckets/secret%2F..%2Fpublic/objects/x",
        "/backup/buckets/secret;/../public/objects/x",
        "/backup/buckets/public/objects/..;/..;/secret/objects/x",
        "/backup/buckets/secret\\..\\public/objects/x",
        "/backup/buckets/%c0%ae%c0%ae/objects/x",
        "/backup/buckets/\uff0e\uff0e/secret/objects/x",
    ],
)
def test_ambiguous_bypass_is_refused(raw: str) -> None:
    """A path the upstream could read differently is refused before any route is chosen."""
    with pytest.raises(InvalidInput):
        normalize_path(raw)


def test_double_encoding_stays_literal() -> None:
    """`%252e%252e` is the key `%2e%2e`, authorized as such and forwarded re-encoded."""
    match = _match("GET", normalize_path("/backup/buckets/public/objects/%252e%252e/secret"))
    assert match.params == {"bucket": "public", "key": "%2e%2e/secret"}
    assert match.resource == f"{ARN}:bucket/public/%2e%2e/secret"
    assert encode_path(match.forward_path) == "/buckets/public/objects/%252e%252e/secret"


_SEGMENTS = st.sampled_from(
    ["backup", "buckets", "objects", "b", "secret", ".", "..", "%2e%2e", "%252e", "", "a%20b"]
)


@given(st.lists(_SEGMENTS, max_size=10), st.sampled_from(["GET", "PUT", "DELETE", "HEAD"]))
def test_forwarded_path_maps_to_the_same_authorization(segments: list[str], method: str) -> None:
    """Re-normalizing the path sent upstream maps to the same upstream, action and resource."""
    try:
        path = normalize_path("/" + "/".join(segments))
    except InvalidInput:
        return
    match = TABLE.match(_view(method, path), account=ACCOUNT)
    assert match is not None
    stripped = match.upstream.prefix if match.upstream.strip_prefix else None
    stripped = "" if stripped in (None, "/") else stripped
    assert stripped + match.forward_path in (path, path + "/")
    sent = normalize_path(encode_path(match.forward_path))
    assert sent == match.forward_path
    again = TABLE.match(_view(method, stripped + sent), account=ACCOUNT)
    assert again is not None
    assert (again.upstream, again.action, again.resource) == (
        match.upstream,
        match.action,
        match.resource,
    )


# --- compile errors ------------------------------------------------------------------------------


WEB_SETTINGS = _upstreams(WEB)[0]


def _backup_with(**changes: Any) -> UpstreamSettings:
    upstream = _upstreams(BACKUP)[0]
    routes = list(upstream.routes)
    routes[2] = dataclasses.replace(routes[2], **changes)
    return dataclasses.replace(upstream, routes=tuple(routes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "/buckets/{bucket"}, "upstreams[0].routes[2].path: expected a path template"),
        ({"path": "/buckets/{bucket:int}"}, "upstreams[0].routes[2].path: invalid placeholder"),
        ({"path": "/x/{key:path}/y"}, "upstreams[0].routes[2].path: placeholder `{key:path}`"),
        ({"path": "/x/{region}"}, "upstreams[0].routes[2].path: placeholder `{region}` is res"),
        ({"path": "/x/../y"}, "upstreams[0].routes[2].path: expected a path template"),
        ({"path": "/x/{a}/{a}"}, "upstreams[0].routes[2].path: placeholder `{a}` appears twice"),
        ({"path": "/x;y/{bucket}"}, "upstreams[0].routes[2].path: `;` can never match"),
        ({"resource": "arn:aws:backup:::{nope}"}, "upstreams[0].routes[2].resource: unknown"),
        ({"resource": "bucket/{bucket}"}, "upstreams[0].routes[2].resource: expected an ARN"),
        (
            {"condition_keys": (("backup:Prefix", "{key}"),)},
            "upstreams[0].routes[2].condition_keys.backup:Prefix: unknown placeholder `{key}`",
        ),
        ({"methods": ("FETCH",)}, "upstreams[0].routes[2].methods: unknown HTTP method"),
        ({"action": "PutObject"}, "upstreams[0].routes[2].action: expected `service:Action`"),
    ],
)
def test_compile_errors_name_the_route(changes: dict[str, Any], message: str) -> None:
    """A bad route built in code fails compile with the config rule, naming the route."""
    with pytest.raises(ConfigError) as info:
        RouteTable.compile([_backup_with(**changes)], region=REGION)
    assert str(info.value).startswith(message)


def test_compile_error_names_the_file() -> None:
    """The file given to compile prefixes the message, like every config error."""
    with pytest.raises(ConfigError) as info:
        RouteTable.compile(
            [WEB_SETTINGS, _backup_with(path="/b/{x")], region=REGION, file="gateway.toml"
        )
    assert str(info.value).startswith("gateway.toml: upstreams[1].routes[2].path: ")


def test_compile_refuses_a_prefix_with_parameters() -> None:
    """A prefix holding `;` could never match a normalized path."""
    upstream = dataclasses.replace(WEB_SETTINGS, prefix="/web;v=1")
    with pytest.raises(ConfigError, match=r"^upstreams\[0\]\.prefix: `;` can never match"):
        RouteTable.compile([upstream], region=REGION)


def test_compile_refuses_hosts_that_differ_by_port() -> None:
    """Two host upstreams that differ only by port would be ambiguous, since ports are ignored."""
    other = dataclasses.replace(_upstreams(FILES)[0], name="files2", host="files.internal:9443")
    with pytest.raises(ConfigError, match=r"^upstreams\[1\]\.host: `files\.internal:9443` is"):
        RouteTable.compile([_upstreams(FILES)[0], other], region=REGION)


def test_compile_refuses_duplicate_routes() -> None:
    """The config's duplicate-route rule applies to settings built in code too."""
    upstream = _upstreams(BACKUP)[0]
    upstream = dataclasses.replace(upstream, routes=(*upstream.routes, upstream.routes[0]))
    with pytest.raises(ConfigError, match=r"^upstreams\[0\]\.routes\[6\]: `GET /buckets/"):
        RouteTable.compile([upstream], region=REGION)


def test_compile_normalizes_code_built_settings() -> None:
    """Settings built in code get the config's normalization: methods uppercased, host lowered."""
    route = RouteSettings(
        methods=("get",), path="/x/{id}", action="svc:GetX", resource="arn:aws:svc:::x/{id}"
    )
    upstream = UpstreamSettings(
        name="svc",
        url="http://127.0.0.1:9",
        prefix=None,
        host="SVC.internal",
        service="svc",
        routes=(route,),
    )
    table = RouteTable.compile([upstream], region=REGION)
    match = table.match(_view("GET", "/x/1", host="svc.internal"), account=ACCOUNT)
    assert match is not None
    assert (match.action, match.resource) == ("svc:GetX", "arn:aws:svc:::x/1")
