"""The stand-in's ClassAd evaluator agrees with HTCondor's own library (classad2)."""

import classad2
import pytest

from tests.htcondor_standin import classad_expr as cx
from tests.htcondor_standin import classads

AD = {"ClusterId": 5, "ProcId": 1, "Owner": "Alice", "DAGNodeName": "A", "Rate": 2.5,
      "Done": True, "Expr": {"expr": "ClusterId * 2"}}

EXPRESSIONS = [
    "ClusterId == 5", "clusterid == 5", "ClusterId != 5", "ClusterId == 5.0",
    "member(ClusterId, {1, 5, 7})", "member(ClusterId, {1, 2})", "member(Missing, {1})",
    "DAGManJobId == 3", "DAGManJobId =?= 3", "DAGManJobId =!= 3", "DAGManJobId =?= undefined",
    "member(ClusterId, {9}) || member(DAGManJobId, {3})",
    "member(ClusterId, {5}) || member(DAGManJobId, {3})",
    "Missing && false", "Missing && true", "Missing || true", "Missing || false",
    "!Done", "!Missing", 'Owner == "alice"', 'Owner =?= "alice"', 'Owner =?= "Alice"',
    "Owner == 5", "ProcId + 1 > ClusterId", "ClusterId / 2", "-7 / 2", "ClusterId % 3",
    "Rate * 2", "ProcId < Rate", "ClusterId >= 5 && ProcId <= 1", "Expr == 10",
    "isUndefined(Missing)", "isUndefined(ClusterId)", "ifThenElse(Done, 1, 2)",
    'strcat(Owner, "-", DAGNodeName)', 'toLower(Owner) == "alice"', "size(Owner)",
    "Done ? ClusterId : ProcId", "(1 + 2) * 3", "TARGET.ClusterId", "true && 5", "undefined == undefined",
    "!5", "!0", "false || 0", "5 && Missing", "0 && Missing", '"a" && true', "5 ? 1 : 2",
    "ifThenElse(ProcId, 1, 2)", '!"x"',
    # member() of literal lists (looked up in a set when all integers or all strings)
    'member(Owner, {"ALICE", "bob"})', 'member(Owner, {"bob"})', "member(Rate, {2, 3})",
    "member(Rate, {2.5, 3})", "member(ClusterId, {5.0, 1})", 'member(ClusterId, {"5", 1})',
    "member(ClusterId, {})", "member(Missing, {1, 2})", 'member(Owner, {1, 2})',
    "member(ClusterId, {ProcId, 5})", "member(ProcId + 4, {5, 6})",
    "member(ClusterId, {" + ", ".join(str(i) for i in range(0, 20000, 5)) + "})",
]


def _reference(expression):
    ad = classad2.ClassAd()
    for key, value in AD.items():
        ad[key] = classad2.ExprTree(value["expr"]) if isinstance(value, dict) else value
    value = classad2.ExprTree(expression).eval(ad)
    if value is classad2.Value.Undefined:
        return cx.UNDEFINED
    if value is classad2.Value.Error:
        return cx.ERROR
    return value


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_evaluation_matches_classad2(expression):
    ours = cx.evaluate(cx.parse(expression), classads._resolver(AD))
    expected = _reference(expression)
    assert ours == expected and type(ours) is type(expected), (ours, expected)


def test_parse_errors_are_reported():
    with pytest.raises(ValueError, match="Invalid constraint"):
        classads.compile_constraint("ClusterId ==")


def test_submit_values_parse_as_literals_or_expressions():
    assert classads.parse_value('"a \\"b\\""') == 'a "b"'
    assert classads.parse_value("42") == 42 and classads.parse_value("true") is True
    assert classads.parse_value("DAGManJobId =?= 5") == {"expr": "DAGManJobId =?= 5"}
    assert classads.literal('a "b"') == '"a \\"b\\""'
