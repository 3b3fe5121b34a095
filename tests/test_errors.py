"""How messages name arguments: by their parameter in the library, by a flag under a command."""

from __future__ import annotations

import pytest

from mrsisr.errors import argument, flags


def test_an_argument_is_its_name_unless_a_block_gives_it_a_flag() -> None:
    assert argument("scaling") == "scaling"
    with flags({"scaling": "--scaling"}):
        assert (argument("scaling"), argument("variant")) == ("--scaling", "variant")
        with flags({"variant": "--map-variant"}):  # an inner block replaces, not merges
            assert (argument("scaling"), argument("variant")) == ("scaling", "--map-variant")
        assert argument("scaling") == "--scaling"
    assert argument("scaling") == "scaling"


def test_the_flags_end_with_their_block_when_it_raises() -> None:
    with pytest.raises(RuntimeError), flags({"t1": "--t1"}):
        raise RuntimeError
    assert argument("t1") == "t1"
