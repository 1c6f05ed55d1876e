"""Label and field selectors: parsing, matching, formatting and kube-apiserver's error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb.testing._selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    Requirement,
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
)

POD_LABELS = {"app": "web", "tier": "frontend", "track": "stable", "release": "42"}

# --------------------------------------------------------------------------- label selectors


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("", True),
        ("   ", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("missing=x", False),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("tier in (frontend, backend)", True),
        ("tier in (backend)", False),
        ("tier notin (backend)", True),
        ("tier notin (frontend,backend)", False),
        ("missing notin (a)", True),
        ("missing in (a)", False),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("  app = web ,\ttier\nin(frontend)  ", True),
        ("release>41", True),
        ("release>42", False),
        ("release<43", True),
        ("release<42", False),
        ("app>1", False),  # the label is not an integer
        ("missing>1", False),
        ("missing=", False),
        ("app in (in, notin, web)", True),
    ],
)
def test_label_selector_matching(selector: str, selected: bool) -> None:
    assert parse_label_selector(selector).matches(POD_LABELS) is selected


def test_doubled_empty_values_are_rejected_like_go() -> None:
    with pytest.raises(SelectorError, match="found '\\)', expected: ',', or identifier"):
        parse_label_selector("x in (,,)")


def test_empty_values_select_empty_labels() -> None:
    labels = {"empty": ""}
    assert parse_label_selector("empty=").matches(labels)
    assert parse_label_selector("empty in ()").matches(labels)
    assert parse_label_selector("empty in (,a)").matches(labels)
    assert not parse_label_selector("empty notin (,)").matches(labels)
    assert parse_label_selector("x in (a,,b)").requirements[0].values == ("", "a", "b")


def test_requirements_are_sorted_by_key_and_values_normalised() -> None:
    sel = parse_label_selector("z=1,a in (c,b,c),!m,k")
    assert [r.key for r in sel.requirements] == ["a", "k", "m", "z"]
    assert sel.requirements[0] == Requirement("a", "in", ("b", "c"))
    assert sel.requirements[1] == Requirement("k", "exists")
    assert sel.requirements[2] == Requirement("m", "!")
    assert str(sel) == "a in (b,c),k,!m,z=1"


def test_keywords_are_identifiers_outside_operator_position() -> None:
    sel = parse_label_selector("in in (notin),notin=in")
    assert sel.requirements == (Requirement("in", "in", ("notin",)), Requirement("notin", "=", ("in",)))
    assert sel.matches({"in": "notin", "notin": "in"})


def test_prefixed_keys() -> None:
    sel = parse_label_selector("app.kubernetes.io/name=web,!example.com/legacy")
    assert sel.matches({"app.kubernetes.io/name": "web"})
    assert not sel.matches({"app.kubernetes.io/name": "web", "example.com/legacy": "true"})


def test_greater_than_uses_int64() -> None:
    assert parse_label_selector("n>9223372036854775806").matches({"n": "9223372036854775807"})
    assert not parse_label_selector("n>1").matches({"n": "9223372036854775808"})  # out of int64
    assert parse_label_selector("n<10").matches({"n": "+5"})  # Go's ParseInt takes a sign
    with pytest.raises(SelectorError):
        parse_label_selector("n>9223372036854775808")


def test_nul_where_a_token_starts_ends_the_selector() -> None:
    assert str(parse_label_selector("app=web \x00,garbage (((")) == "app=web"
    assert str(parse_label_selector("app=web\x00,tier=x")) == "app=web,tier=x"


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
        ("app=web=x", "found '=', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        ("app=web,,", "found ',', expected: identifier after ','"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("app in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("app=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
        (
            "release>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "app=-web",
            'unable to parse requirement: values[0][app]: Invalid value: "-web": a valid label must be an '
            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        (
            "a$=b",
            'unable to parse requirement: <nil>: Invalid value: "a$": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        (
            "Example.com/x",
            'unable to parse requirement: <nil>: Invalid value: "Example.com/x": prefix part a lowercase RFC '
            "1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        ("/x", 'unable to parse requirement: <nil>: Invalid value: "/x": prefix part must be non-empty'),
    ],
)
def test_label_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(selector)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)


def test_long_keys_and_values_are_rejected() -> None:
    with pytest.raises(SelectorError, match="name part must be no more than 63 characters"):
        parse_label_selector("a" * 64)
    with pytest.raises(SelectorError, match="must be no more than 63 characters"):
        parse_label_selector("a=" + "b" * 64)
    assert parse_label_selector("a" * 63 + "=" + "b" * 63).matches({"a" * 63: "b" * 63})


def test_label_selector_from_dict() -> None:
    sel = label_selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "cache"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "release", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert str(sel) == "app=web,!legacy,release,tier in (cache,frontend),track notin (canary)"
    assert sel.matches(POD_LABELS)
    assert not sel.matches({**POD_LABELS, "track": "canary"})
    assert not sel.matches({**POD_LABELS, "legacy": "1"})


def test_null_selector_matches_nothing_and_empty_matches_everything() -> None:
    assert not label_selector_from_dict(None).matches(POD_LABELS)
    assert not label_selector_from_dict(None).matches({})
    assert label_selector_from_dict(None).nothing
    assert label_selector_from_dict({}).empty
    assert label_selector_from_dict({"matchLabels": {}, "matchExpressions": []}).matches({})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"a": "-"}}, 'values[0][a]: Invalid value: "-": a valid label must be'),
        ({"matchLabels": {"-a": "b"}}, 'key: Invalid value: "-a": name part must consist'),
    ],
)
def test_label_selector_from_dict_errors(selector: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError) as err:
        label_selector_from_dict(selector)
    assert str(err.value).startswith(message)


def test_several_validation_errors_are_aggregated() -> None:
    with pytest.raises(SelectorError) as err:
        label_selector_from_dict({"matchExpressions": [{"key": "-a", "operator": "In", "values": []}]})
    message = str(err.value)
    assert message.startswith('[key: Invalid value: "-a"')
    assert message.endswith("values set can't be empty]")


# hypothesis: formatting round-trips, and arbitrary text never breaks the parser

_name = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,8}[a-z0-9])?", fullmatch=True)
_key = st.one_of(_name, st.builds(lambda p, n: f"{p}.io/{n}", st.from_regex(r"[a-z]{1,6}", fullmatch=True), _name))
_value = st.one_of(st.just(""), _name)
_requirement = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _key, _value),
    st.builds(lambda k, v: f"{k}=={v}", _key, _value),
    st.builds(lambda k, v: f"{k}!={v}", _key, _value),
    st.builds(lambda k, vs: f"{k} in ({','.join(vs)})", _key, st.lists(_value, min_size=1, max_size=3, unique=True)),
    st.builds(lambda k, vs: f"{k} notin ({','.join(vs)})", _key, st.lists(_value, min_size=1, max_size=3, unique=True)),
    st.builds(lambda k: k, _key),
    st.builds(lambda k: f"!{k}", _key),
    st.builds(lambda k, n: f"{k}>{n}", _key, st.integers(0, 10**12)),
    st.builds(lambda k, n: f"{k}<{n}", _key, st.integers(0, 10**12)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_requirement, max_size=5))
def test_label_selector_format_round_trip(parts: list[str]) -> None:
    parsed = parse_label_selector(",".join(parts))
    again = parse_label_selector(str(parsed))
    assert again == parsed
    assert str(again) == str(parsed)


@settings(max_examples=150, deadline=None)
@given(st.lists(_requirement, max_size=4), st.dictionaries(_key, _value, max_size=4))
def test_label_selector_is_the_and_of_its_requirements(parts: list[str], labels: dict[str, str]) -> None:
    whole = parse_label_selector(",".join(parts))
    assert whole.matches(labels) == all(parse_label_selector(p).matches(labels) for p in parts)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab=!(),<> \t\nin1-_./\x00z"), max_size=30) | st.text(max_size=30))
def test_label_parser_only_raises_selector_error(text: str) -> None:
    try:
        sel = parse_label_selector(text)
    except SelectorError:
        return
    assert isinstance(sel, LabelSelector)
    assert parse_label_selector(str(sel)) == sel


# --------------------------------------------------------------------------- field selectors

POD_FIELDS = {
    "metadata.name": "web-1",
    "metadata.namespace": "default",
    "spec.nodeName": "node-a",
    "status.phase": "Running",
}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("", True),
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name!=web-1", False),
        ("status.phase!=Pending,spec.nodeName=node-a", True),
        ("status.phase!=Pending,spec.nodeName=node-b", False),
        ("spec.restartPolicy=", True),  # a missing field reads as ""
        ("spec.restartPolicy!=", False),
        ("spec.nodeName=", False),
        (",metadata.name=web-1,,", True),  # empty terms are skipped
        ("metadata.name= web-1", False),  # no whitespace trimming
    ],
)
def test_field_selector_matching(selector: str, selected: bool) -> None:
    assert parse_field_selector(selector).matches(POD_FIELDS) is selected


def test_field_selector_requirements_and_escapes() -> None:
    sel = parse_field_selector(r"status.phase!=Running,metadata.name=a\,b\=c\\d")
    assert sel.requirements == (
        FieldRequirement("metadata.name", "=", "a,b=c\\d"),
        FieldRequirement("status.phase", "!=", "Running"),
    )
    assert sel.fields == {"metadata.name", "status.phase"}
    assert sel.matches({"metadata.name": "a,b=c\\d", "status.phase": "Pending"})
    assert str(sel) == r"metadata.name=a\,b\=c\\d,status.phase!=Running"
    assert parse_field_selector("a==b").requirements == (FieldRequirement("a", "=", "b"),)
    assert parse_field_selector("a=!b").requirements == (FieldRequirement("a", "=", "!b"),)
    assert parse_field_selector("").empty


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_field_selector(selector)
    assert str(err.value) == message


_field_name = st.from_regex(r"[a-z]{1,6}(\.[a-zA-Z]{1,8}){0,2}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_field_name, st.sampled_from(["=", "!="]), st.text(max_size=12)), max_size=4))
def test_field_selector_format_round_trip(terms: list[tuple[str, str, str]]) -> None:
    sel = FieldSelector(tuple(FieldRequirement(f, op, v) for f, op, v in terms))
    parsed = parse_field_selector(str(sel))
    assert sorted(parsed.requirements, key=str) == sorted(sel.requirements, key=str)
    fields = {f: v for f, _, v in terms}
    assert parsed.matches(fields) == sel.matches(fields)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab=!,\\ .x"), max_size=25) | st.text(max_size=25))
def test_field_parser_only_raises_selector_error(text: str) -> None:
    try:
        sel = parse_field_selector(text)
    except SelectorError:
        return
    assert parse_field_selector(str(sel)) == sel
