"""
What the forwarder keeps of a request's query.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.proxy import forward_query


def _reference(query: str) -> str:
    # The rule, spelled out: drop empty parts and parts whose name starts with x-amz-.
    return "&".join(
        part
        for part in query.split("&")
        if part and not part.partition("=")[0].lower().startswith("x-amz-")
    )


def test_presigning_parameters_are_dropped_and_the_rest_kept_as_sent() -> None:
    """SigV4 query parameters go, in any case; everything else stays byte for byte."""
    query = (
        "prefix=a%2Fb&X-Amz-Algorithm=AWS4-HMAC-SHA256&x-amz-signature=00&X-AMZ-Date=1"
        "&x-amz=1&x-amzfoo=2&&flag&X-Amz-&q=x-amz-=1"
    )
    assert forward_query(query) == "prefix=a%2Fb&x-amz=1&x-amzfoo=2&flag&q=x-amz-=1"
    assert forward_query("") == ""


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["x-amz-", "X-Amz-", "X-AMZ-D", "x-am", "x-amz", "=", "&", ""]),
            st.text(alphabet="xXaAmMzZ-=&%2Fb", max_size=8),
        ),
        max_size=8,
    ).map("".join)
)
def test_forward_query_follows_the_rule(query: str) -> None:
    """For any query, the kept parts are exactly those the rule keeps."""
    assert forward_query(query) == _reference(query)
