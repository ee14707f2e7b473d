"""The op schema is one source of truth: the C++ mirror must be generated from it."""

import re

from kbnn.convert import schema


def test_cpp_header_is_generated_from_schema():
    assert schema.HEADER_PATH.read_text() == schema.generate_cpp_header(), (
        "kernels/include/kbnn/schema_generated.h is stale: run python -m kbnn.convert.schema --write"
    )


def test_every_op_carries_the_version_attr_and_unique_names():
    names = [op.name for op in schema.OPS]
    assert len(names) == len(set(names))
    for op in schema.OPS:
        assert op.name.startswith("Kbnn")
        assert op.attr(schema.VERSION_ATTR).default == schema.SCHEMA_VERSION
        attr_names = [a.name for a in op.attrs]
        assert len(attr_names) == len(set(attr_names)), op.name


def test_tf_specs_are_valid_register_op_syntax():
    spec = re.compile(
        r"^[A-Za-z_][A-Za-z0-9_]*: (int|float|string|bool|type|\{[^}]+\}|int >= -?\d+)( = .+)?$"
    )
    for op in schema.OPS:
        for a in op.attrs:
            assert spec.match(a.tf_spec()), (op.name, a.tf_spec())


def test_packed_words():
    assert [schema.packed_words(c) for c in (1, 31, 32, 33, 64, 100)] == [1, 1, 1, 2, 2, 4]
