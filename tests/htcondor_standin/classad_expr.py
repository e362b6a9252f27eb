"""A small evaluator of HTCondor's ClassAd expression language (pure Python).

The stand-in runs on submit hosts where HTCondor's own ClassAd library may not be
importable (the remote test user's interpreter), so constraints are evaluated here. It
covers what job queries use: literals (integers, reals, strings, ``true``, ``false``,
``undefined``, ``error``, lists ``{...}``), attribute references (case-insensitive,
``MY.``/``TARGET.``), ``!``, unary ``-``, ``* / %``, ``+ -``, ``< <= > >=``,
``== != =?= =!= is isnt``, ``&&``, ``||``, ``?:`` and the functions ``member``,
``isUndefined``, ``isError``, ``ifThenElse``, ``strcat``, ``toLower``, ``toUpper``,
``size``, ``int``, ``real``, ``string`` and ``time``.

Semantics follow the ClassAd reference: ``==`` compares strings without case and yields
undefined when an operand is undefined; ``=?=`` never does; ``&&``/``||`` are
three-valued. ``tests/htcondor_standin/test_classads.py`` checks it against
``classad2``.
"""

from __future__ import annotations

import functools
import re
import time


class Undefined:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "undefined"


class Error:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "error"


UNDEFINED, ERROR = Undefined(), Error()

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<real>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
    | (?P<int>\d+)
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op>=\?=|=!=|==|!=|<=|>=|&&|\|\||[-+*/%<>!(){},?:])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""", re.VERBOSE)


class ParseError(ValueError):
    pass


def tokenize(text):
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ParseError(f"Parse error in expression at: {text[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
    return tokens


def _unescape(body):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, value=None):
        if self.pos >= len(self.tokens):
            return None
        token = self.tokens[self.pos]
        if value is None:
            return token
        if token[0] == "op" and token[1] == value:
            return token
        if token[0] == "name" and token[1].lower() == value:
            return token
        return None

    def take(self, value=None):
        token = self.peek(value)
        if token is None:
            raise ParseError(f"Parse error: expected {value or 'a value'}")
        self.pos += 1
        return token

    def parse(self):
        node = self.ternary()
        if self.pos != len(self.tokens):
            raise ParseError(f"Parse error near {self.tokens[self.pos][1]!r}")
        return node

    def ternary(self):
        node = self.binary(0)
        if self.peek("?"):
            self.take("?")
            yes = self.ternary()
            self.take(":")
            return ("?", node, yes, self.ternary())
        return node

    LEVELS = (("||",), ("&&",), ("==", "!=", "=?=", "=!=", "is", "isnt"),
              ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))

    def binary(self, level):
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while True:
            op = next((o for o in self.LEVELS[level] if self.peek(o)), None)
            if op is None:
                return node
            self.take(op)
            node = (op, node, self.binary(level + 1))

    def unary(self):
        for op in ("!", "-", "+"):
            if self.peek(op):
                self.take(op)
                return ("u" + op, self.unary())
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if kind == "int":
            return ("lit", int(value))
        if kind == "real":
            return ("lit", float(value))
        if kind == "str":
            return ("lit", _unescape(value[1:-1]))
        if kind == "op" and value == "(":
            node = self.ternary()
            self.take(")")
            return node
        if kind == "op" and value == "{":
            items = []
            if not self.peek("}"):
                items.append(self.ternary())
                while self.peek(","):
                    self.take(",")
                    items.append(self.ternary())
            self.take("}")
            return _list_node(items)
        if kind == "name":
            low = value.lower()
            if low in ("true", "false"):
                return ("lit", low == "true")
            if low == "undefined":
                return ("lit", UNDEFINED)
            if low == "error":
                return ("lit", ERROR)
            if self.peek("("):
                self.take("(")
                args = []
                if not self.peek(")"):
                    args.append(self.ternary())
                    while self.peek(","):
                        self.take(",")
                        args.append(self.ternary())
                self.take(")")
                return ("call", low, tuple(args))
            return ("attr", value)
        raise ParseError(f"Parse error near {value!r}")


def _list_node(items):
    """A list node. A list of literals only (``{1, 2, 3}``, as a constraint's
    ``member(ClusterId, {...})`` has) is built once, with a set of its values when they
    are all integers or all strings: ``member()`` then looks a value up instead of
    comparing it with every item, with the same result as the comparisons."""
    if items and all(item[0] == "lit" for item in items):
        values = tuple(item[1] for item in items)
        index = None
        if all(type(v) is int for v in values):
            index = ("int", frozenset(values))
        elif all(isinstance(v, str) for v in values):
            index = ("str", frozenset(v.lower() for v in values))
        return ("clist", values, index)
    return ("list", tuple(items))


@functools.lru_cache(maxsize=4096)
def parse(text):
    """Parse an expression (a tree of tuples, cached per text: ads' expressions and a
    query's constraint are parsed once). :raises ParseError: on bad syntax."""
    return _Parser(text).parse()


def evaluate(tree, lookup):
    """Evaluate a parsed expression; ``lookup(name)`` returns an attribute's value (or
    :data:`UNDEFINED`). Returns a Python value, a list, ``UNDEFINED`` or ``ERROR``."""
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "clist":
        return list(tree[1])
    if kind == "list":
        return [evaluate(item, lookup) for item in tree[1]]
    if kind == "attr":
        name = tree[1]
        scope, _, rest = name.partition(".")
        if rest and scope.lower() == "target":
            return UNDEFINED
        if rest and scope.lower() == "my":
            name = rest
        return lookup(name)
    if kind == "?":
        cond = _as_bool(evaluate(tree[1], lookup))
        if cond is True:
            return evaluate(tree[2], lookup)
        if cond is False:
            return evaluate(tree[3], lookup)
        return cond if cond in (UNDEFINED, ERROR) else ERROR
    if kind == "call":
        if tree[1] == "member" and len(tree[2]) == 2 and tree[2][1][0] == "clist" \
                and tree[2][1][2] is not None:
            return _member_indexed(evaluate(tree[2][0], lookup), tree[2][1])
        return _call(tree[1], [evaluate(arg, lookup) for arg in tree[2]])
    if kind.startswith("u"):
        return _unary(kind[1:], evaluate(tree[1], lookup))
    if kind in ("&&", "||"):
        return _logic(kind, evaluate(tree[1], lookup), lambda: evaluate(tree[2], lookup))
    return _binary(kind, evaluate(tree[1], lookup), evaluate(tree[2], lookup))


def _member_indexed(value, node):
    """``member(value, {literals})`` through the list's set: an integer in a list of
    integers is equal (``==``) to an item exactly when it is in the set, and a string to
    a string item when their lower-case forms are (``==`` ignores case). Any other value
    is compared item by item, as :func:`_call` does."""
    kind, index = node[2]
    if kind == "int" and type(value) is int:
        return value in index
    if kind == "str" and isinstance(value, str):
        return value.lower() in index
    return _call("member", [value, list(node[1])])


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_bool(v):
    """Logical operands: booleans, and numbers (non-zero is true), as ClassAds read them."""
    if isinstance(v, bool) or v in (UNDEFINED, ERROR):
        return v
    if _is_number(v):
        return v != 0
    return ERROR


def _unary(op, v):
    if v in (UNDEFINED, ERROR):
        return v
    if op == "!":
        v = _as_bool(v)
        return v if v is ERROR else not v
    if not _is_number(v):
        return ERROR
    return -v if op == "-" else v


def _logic(op, left, right_thunk):
    left = _as_bool(left)
    if op == "&&":
        if left is False:
            return False
        right = _as_bool(right_thunk())
        if left is ERROR or right is ERROR:
            return ERROR
        if right is False:
            return False
        if left is UNDEFINED or right is UNDEFINED:
            return UNDEFINED
        return right
    if left is True:
        return True
    right = _as_bool(right_thunk())
    if left is ERROR or right is ERROR:
        return ERROR
    if right is True:
        return True
    if left is UNDEFINED or right is UNDEFINED:
        return UNDEFINED
    return right


def _binary(op, a, b):
    if op in ("=?=", "is"):
        return _same(a, b)
    if op in ("=!=", "isnt"):
        return not _same(a, b)
    if a is ERROR or b is ERROR:
        return ERROR
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    if op in ("==", "!=", "<", "<=", ">", ">="):
        if isinstance(a, str) and isinstance(b, str):
            x, y = a.lower(), b.lower()
        elif isinstance(a, bool) and isinstance(b, bool) and op in ("==", "!="):
            x, y = a, b
        elif _is_number(a) and _is_number(b):
            x, y = a, b
        else:
            return ERROR
        return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y,
                ">=": x >= y}[op]
    if not (_is_number(a) and _is_number(b)):
        return ERROR
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return ERROR
    if isinstance(a, int) and isinstance(b, int):
        quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
        return quotient if op == "/" else a - quotient * b
    return a / b if op == "/" else a - int(a / b) * b


def _same(a, b):
    if type(a) is not type(b):
        return False
    return a == b


def _call(name, args):
    if name == "member":
        if len(args) != 2 or not isinstance(args[1], list):
            return ERROR
        if args[0] in (UNDEFINED, ERROR):
            return args[0]
        return any(_binary("==", args[0], item) is True for item in args[1])
    if name == "isundefined":
        return args[0] is UNDEFINED
    if name == "iserror":
        return args[0] is ERROR
    if name == "ifthenelse":
        cond = _as_bool(args[0])
        if cond is True:
            return args[1]
        if cond is False:
            return args[2]
        return cond
    if name == "strcat":
        if any(a in (UNDEFINED, ERROR) for a in args):
            return ERROR
        return "".join(_to_string(a) for a in args)
    if name in ("tolower", "toupper"):
        if not isinstance(args[0], str):
            return args[0] if args[0] in (UNDEFINED, ERROR) else ERROR
        return args[0].lower() if name == "tolower" else args[0].upper()
    if name == "size":
        return len(args[0]) if isinstance(args[0], (str, list)) else ERROR
    if name == "int":
        try:
            return int(float(args[0])) if not isinstance(args[0], bool) else int(args[0])
        except (TypeError, ValueError):
            return ERROR
    if name == "real":
        try:
            return float(args[0])
        except (TypeError, ValueError):
            return ERROR
    if name == "string":
        return _to_string(args[0]) if args[0] not in (UNDEFINED, ERROR) else args[0]
    if name == "time":
        return int(time.time())
    return ERROR


def _to_string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
