"""What the rules need to know about MySQL/MariaDB column types: families, key sizes."""

from __future__ import annotations

from lms_db.lint.schema import ColumnDef

#: Two-word type spellings (DDL parser), folded to one name.
TWO_WORD_TYPES = {
    ("DOUBLE", "PRECISION"): "DOUBLE",
    ("CHARACTER", "VARYING"): "VARCHAR",
    ("NATIONAL", "CHAR"): "CHAR",
    ("NATIONAL", "VARCHAR"): "VARCHAR",
    ("NATIONAL", "CHARACTER"): "CHAR",
    ("NCHAR", "VARCHAR"): "VARCHAR",
    ("LONG", "VARCHAR"): "MEDIUMTEXT",
    ("LONG", "VARBINARY"): "MEDIUMBLOB",
}
TYPE_ALIASES = {
    "CHARACTER": "CHAR",
    "NCHAR": "CHAR",
    "NVARCHAR": "VARCHAR",
    "LONG": "MEDIUMTEXT",
    "BOOL": "TINYINT",
    "BOOLEAN": "TINYINT",
    "INT1": "TINYINT",
    "INT2": "SMALLINT",
    "INT3": "MEDIUMINT",
    "INT4": "INT",
    "INT8": "BIGINT",
    "MIDDLEINT": "MEDIUMINT",
    "FLOAT4": "FLOAT",
    "FLOAT8": "DOUBLE",
    "REAL": "DOUBLE",
    "FIXED": "DECIMAL",
}
INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "SERIAL"})
CHAR_TYPES = frozenset({"CHAR", "VARCHAR"})
BINARY_TYPES = frozenset({"BINARY", "VARBINARY"})
TEXT_TYPES = frozenset({"TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT"})
BLOB_TYPES = frozenset({"TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB"})
SPATIAL_TYPES = frozenset(
    {
        "GEOMETRY",
        "POINT",
        "LINESTRING",
        "POLYGON",
        "MULTIPOINT",
        "MULTILINESTRING",
        "MULTIPOLYGON",
        "GEOMETRYCOLLECTION",
        "GEOMCOLLECTION",
    }
)
TEMPORAL_TYPES = frozenset({"DATE", "DATETIME", "TIMESTAMP", "TIME", "YEAR"})
#: Every type both servers know.
COMMON_TYPES = (
    INTEGER_TYPES
    | CHAR_TYPES
    | BINARY_TYPES
    | TEXT_TYPES
    | BLOB_TYPES
    | SPATIAL_TYPES
    | TEMPORAL_TYPES
    | {"DECIMAL", "FLOAT", "DOUBLE", "BIT", "ENUM", "SET", "JSON"}
)
#: Types only MariaDB has (10.7+ UUID, 10.10+ INET4).
MARIADB_TYPES = frozenset({"INET6", "INET4", "UUID"})

#: Bytes per character of the character sets (the longest character).
_CHARSET_BYTES = {
    "utf8mb4": 4,
    "utf8mb3": 3,
    "utf8": 3,
    "latin1": 1,
    "ascii": 1,
    "binary": 1,
    "ucs2": 2,
    "utf16": 4,
    "utf16le": 4,
    "utf32": 4,
    "cp1251": 1,
    "latin2": 1,
    "gbk": 2,
    "big5": 2,
    "sjis": 2,
    "ujis": 3,
    "euckr": 2,
    "gb2312": 2,
    "gb18030": 4,
    "cp1250": 1,
    "cp1252": 1,
    "greek": 1,
    "hebrew": 1,
    "tis620": 1,
    "koi8r": 1,
    "koi8u": 1,
    "swe7": 1,
    "dec8": 1,
}
_FIXED_BYTES = {
    "TINYINT": 1,
    "SMALLINT": 2,
    "MEDIUMINT": 3,
    "INT": 4,
    "BIGINT": 8,
    "SERIAL": 8,
    "FLOAT": 4,
    "DOUBLE": 8,
    "DATE": 3,
    "YEAR": 1,
    "TIME": 3,
    "DATETIME": 5,
    "TIMESTAMP": 4,
    "INET4": 4,
    "INET6": 16,
    "UUID": 16,
}
#: Default display lengths of the string types that may be declared without one.
_DEFAULT_LENGTH = {"CHAR": 1, "BINARY": 1}


def is_string(col: ColumnDef) -> bool:
    """Types an index prefix may apply to."""
    return col.type_name in CHAR_TYPES | BINARY_TYPES | TEXT_TYPES | BLOB_TYPES


def needs_prefix(col: ColumnDef) -> bool:
    """TEXT and BLOB key parts need a prefix length (MySQL: error 1170)."""
    return col.type_name in TEXT_TYPES | BLOB_TYPES


def charset_bytes(col: ColumnDef) -> int:
    if col.type_name in BINARY_TYPES | BLOB_TYPES:
        return 1
    return _CHARSET_BYTES.get((col.charset or "utf8mb4").lower(), 4)


def char_length(col: ColumnDef) -> int | None:
    """Characters (bytes for binary types) the column holds; ``None`` when unbounded."""
    if col.type_name in CHAR_TYPES | BINARY_TYPES:
        return col.length if col.length is not None else _DEFAULT_LENGTH.get(col.type_name)
    return None


def key_part_bytes(col: ColumnDef, prefix: int | None) -> int:
    """The bytes one key part takes in an InnoDB index (the 3072-byte limit counts these)."""
    name = col.type_name
    if prefix is not None:
        return prefix * charset_bytes(col)
    if name in CHAR_TYPES | BINARY_TYPES:
        return (char_length(col) or 0) * charset_bytes(col)
    if name == "DECIMAL":
        digits = col.length or 10
        return (digits // 9) * 4 + (digits % 9 + 1) // 2
    if name == "BIT":
        return ((col.length or 1) + 7) // 8
    if name == "ENUM":
        return 1 if len(col.values) < 256 else 2
    if name == "SET":
        return (len(col.values) + 7) // 8
    return _FIXED_BYTES.get(name, 0)


def default_collation(charset: str, mariadb: bool) -> str:
    """The collation a column of ``charset`` gets when it names none."""
    if charset == "utf8mb4" and not mariadb:
        return "utf8mb4_0900_ai_ci"
    if charset == "binary":
        return "binary"
    if charset == "utf8":
        charset = "utf8mb3"
    return {"latin1": "latin1_swedish_ci"}.get(charset, f"{charset}_general_ci")


def same_fk_type(child: ColumnDef, parent: ColumnDef, mariadb: bool = False) -> str:
    """Why two columns cannot be a foreign key pair ('' when they can).

    MySQL 8.0 manual, 15.1.20.5: "Corresponding columns in the foreign key and the
    referenced key must have similar data types. The size and sign of fixed precision
    types such as INTEGER and DECIMAL must be the same. The length of string types need
    not be the same. For nonbinary (character) string columns, the character set and
    collation must be the same."
    """
    a, b = child.type_name, parent.type_name
    if a in INTEGER_TYPES or b in INTEGER_TYPES or a == "DECIMAL" or b == "DECIMAL":
        if a != b:
            return f"{a} vs {b}"
        if child.unsigned != parent.unsigned:
            return "signed vs unsigned" if parent.unsigned else "unsigned vs signed"
        decimals = (child.length, child.scale), (parent.length, parent.scale)
        if a == "DECIMAL" and not mariadb and decimals[0] != decimals[1]:
            return "different DECIMAL precision or scale"
        return ""
    family = _family(a)
    if family != _family(b):
        return f"{a} vs {b}"
    if family == "char" and (child.charset or "") != (parent.charset or ""):
        return f"character set {child.charset} vs {parent.charset}"
    if family == "char":
        mine = child.collation or default_collation(child.charset or "utf8mb4", mariadb)
        theirs = parent.collation or default_collation(parent.charset or "utf8mb4", mariadb)
        if mine.replace("utf8_", "utf8mb3_") != theirs.replace("utf8_", "utf8mb3_"):
            return f"collation {mine} vs {theirs}"
    return ""


def _family(name: str) -> str:
    if name in CHAR_TYPES:
        return "char"
    if name in BINARY_TYPES:
        return "binary"
    return name
