"""The one metabolite-name normaliser: totals, components, run-together forms, refusals."""

from __future__ import annotations

import itertools

import pytest

from mrsisr.commands.predict import FLAGS
from mrsisr.errors import flags
from mrsisr.metabolites import (
    METABOLITES,
    Metabolite,
    NameMatch,
    NotAConcentration,
    index_of,
    metabolite_from_filename,
    metabolite_of_file,
    normalise_name,
    parse_metabolite,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # spellings the issue found refused: FSL-MRS joins in the order typed, MRSIPrep runs
        # the names together
        ("PCho+GPC", "tCho"), ("PCh+GPC", "tCho"), ("GPC+PCh", "tCho"), ("GPC+PCho", "tCho"),
        ("CrPCr", "tCr"), ("PCr+Cr", "tCr"), ("Cr+PCr", "tCr"),
        ("GPCPCh", "tCho"), ("PChGPC", "tCho"), ("NAANAAG", "NAA"), ("NAAG+NAA", "NAA"),
        # totals and other names
        ("tCho", "tCho"), ("Cho", "tCho"), ("tCr", "tCr"), ("tNAA", "NAA"),
        ("mI", "Ins"), ("myo-Ins", "Ins"), ("MI", "Ins"), ("ins", "Ins"),
        ("gln", "Gln"), ("GLU", "Glu"), ("Gly", "Gly"), (" Gln ", "Gln"),
    ],
)  # fmt: skip
def test_names_read_as_the_model_metabolite(name: str, expected: str) -> None:
    match = normalise_name(name)
    assert match.metabolite.value == expected
    assert not match.partial and match.notes == ()
    assert parse_metabolite(name) is Metabolite(expected)


def test_components_are_an_unordered_set() -> None:
    for met, parts in {
        "tCho": ("GPC", "PCh"),
        "tCr": ("Cr", "PCr"),
        "NAA": ("NAA", "NAAG"),
    }.items():
        for order in itertools.permutations(parts):
            for joiner in ("+", ""):
                assert normalise_name(joiner.join(order)).metabolite.value == met


@pytest.mark.parametrize(
    ("name", "total"), [("Cr", "tCr"), ("PCh", "tCho"), ("PCho", "tCho"), ("NAA", "NAA"),
                        ("PCr", "tCr"), ("GPC", "tCho")],
)  # fmt: skip
def test_a_single_component_is_partial_with_a_note(name: str, total: str) -> None:
    match = normalise_name(name)
    assert match.metabolite.value == total
    assert match.partial
    assert "trained on" in match.note and name in match.note
    assert len(match.notes) == 1 and "trained on" in match.notes[0]


def test_a_total_is_preferred_to_its_components_and_the_larger_component_first() -> None:
    total, cr, pcr = (normalise_name(n) for n in ("Cr+PCr", "Cr", "PCr"))
    assert total.priority < cr.priority < pcr.priority
    gpc, pch = normalise_name("GPC"), normalise_name("PCho")
    assert gpc.priority < pch.priority  # GPC is the larger part of brain choline


@pytest.mark.parametrize("name", ["Cr+NAA", "GluGln", "Glu+Gln", "Glx", "Lac", "water", "",
                                  "+", "Cr+Cr", "CrCr", "NAA+", "GPCx"])  # fmt: skip
def test_unknown_or_mixed_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"unknown metabolite.*known metabolites: tCho"):
        normalise_name(name)


def test_the_model_names_keep_their_embedding_order() -> None:
    assert [m.value for m in METABOLITES] == ["tCho", "tCr", "NAA", "Gly", "Gln", "Glu", "Ins"]
    assert index_of("GPCPCh") == 0 and index_of("NAANAAG") == 2 and index_of("mI") == 6


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lr_Gln.nii.gz", "Gln"), ("P07-NAA.nii", "NAA"), ("cho_map.nii.gz", "tCho"),
        ("sub01_mI_conc.nii.gz", "Ins"), ("PCho+GPC.nii.gz", "tCho"),
        ("GPC+PCh_amp_map.nii", "tCho"),
        ("sub-01_ses-1_space-orig_met-CrPCr_desc-signal_mrsi.nii.gz", "tCr"),
    ],
)  # fmt: skip
def test_the_metabolite_is_read_from_a_file_name(name: str, expected: str) -> None:
    assert metabolite_from_filename(name).metabolite.value == expected


@pytest.mark.parametrize(
    ("name", "marks"),
    [
        ("NAA_sd.nii.gz", "standard-deviation"),
        ("NAA_snr.nii.gz", "signal-to-noise"),
        ("NAA_sd_map.nii", "standard-deviation"),
        ("NAA_crlb_map.nii", "Cramér-Rao"),
        ("NAA_fwhm.nii.gz", "linewidth"),
        ("Cr+PCr_RatToCr+PCr_map.nii", "ratio"),
        ("Gln_ratio.nii.gz", "ratio"),
        ("fit_failed.nii.gz", "fit-failure"),
        ("sub-01_space-orig_met-NAA_desc-crlb_mrsi.nii.gz", "Cramér-Rao"),
        ("sub-01_space-orig_desc-brainmask_mrsi.nii.gz", "mask"),
    ],
)
def test_file_names_of_non_concentration_maps_are_refused(name: str, marks: str) -> None:
    with pytest.raises(NotAConcentration, match=marks):
        metabolite_from_filename(name)


# Every token docs/predict.md and metabolite_from_filename document, with what it marks: a
# token dropped from the reader is a map that is silently super-resolved as a concentration.
DOCUMENTED_TOKENS = {
    "sd": "standard-deviation",
    "std": "standard-deviation",
    "snr": "signal-to-noise",
    "fwhm": "linewidth",
    "linewidth": "linewidth",
    "crlb": "Cramér-Rao",
    "ratio": "ratio",
    "RatToCr": "ratio",
    "Ratio": "ratio",
    "failed": "fit-failure",
    "mask": "a mask",
    "brainmask": "a mask",
    "qcmask": "a mask",
}


@pytest.mark.parametrize("token", sorted(DOCUMENTED_TOKENS))
@pytest.mark.parametrize("pattern", ["{}_NAA.nii.gz", "NAA_{}.nii", "lr-NAA.{}.nii.gz"])
def test_every_documented_non_concentration_token_is_refused(token: str, pattern: str) -> None:
    name = pattern.format(token.upper() if pattern.startswith("lr") else token)
    with pytest.raises(NotAConcentration, match=DOCUMENTED_TOKENS[token]) as err:
        metabolite_from_filename(name)
    assert repr(token.upper() if pattern.startswith("lr") else token) in str(err.value)


@pytest.mark.parametrize("name", ["NAA_sdf.nii.gz", "NAA_masked.nii.gz", "NAA_snr2.nii"])
def test_near_misses_of_the_tokens_are_not_marks(name: str) -> None:
    """A token marks a map only as a whole word: 'sdf', 'masked', 'snr2' do not."""
    assert metabolite_from_filename(name).metabolite.value == "NAA"


@pytest.mark.parametrize("name", ["map.nii.gz", "Gln_Glu.nii.gz", "Gln_tCr_amp_map.nii"])
def test_file_names_with_no_or_several_metabolites_ask_for_the_metabolite(name: str) -> None:
    with pytest.raises(ValueError, match=r"; give metabolite$"):
        metabolite_from_filename(name)
    with flags(FLAGS), pytest.raises(ValueError, match=r"; give --metabolite$"):
        metabolite_from_filename(name)


def test_a_given_metabolite_that_contradicts_the_file_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^metabolite tCho contradicts .*NAA.*force_metabolite"):
        metabolite_of_file("lr_NAA.nii.gz", "tCho")
    with flags(FLAGS), pytest.raises(ValueError, match=r"^--metabolite tCho contradicts .*NAA"):
        metabolite_of_file("lr_NAA.nii.gz", "tCho")
    forced = metabolite_of_file("lr_NAA.nii.gz", "tCho", force=True)
    assert forced.metabolite is Metabolite.tCho and forced.label == "tCho"


def test_a_given_metabolite_decides_where_the_file_name_agrees_or_says_nothing() -> None:
    assert metabolite_of_file("lr_NAA.nii.gz", "NAA+NAAG").metabolite is Metabolite.NAA
    assert metabolite_of_file("map.nii.gz", "Gln").metabolite is Metabolite.Gln
    assert metabolite_of_file("Gln_Glu.nii.gz", "Glu").metabolite is Metabolite.Glu
    assert metabolite_of_file("sub01_GPCPCh.nii.gz").metabolite is Metabolite.tCho
    with pytest.raises(ValueError, match=r"^metabolite: unknown metabolite 'Lac'"):
        metabolite_of_file("map.nii.gz", "Lac")
    with flags(FLAGS), pytest.raises(ValueError, match=r"^--metabolite: unknown metabolite 'Lac'"):
        metabolite_of_file("map.nii.gz", "Lac")


def test_a_non_concentration_file_is_refused_even_with_a_given_metabolite() -> None:
    for force in (False, True):
        with pytest.raises(NotAConcentration, match="standard-deviation"):
            metabolite_of_file("NAA_sd.nii.gz", "NAA", force=force)


def test_the_messages_say_what_is_known_and_what_to_do() -> None:
    """The exact messages a user reads (mutation testing: every word of them is pinned)."""
    assert normalise_name(Metabolite.Gln) == NameMatch(Metabolite.Gln, "Gln")
    with pytest.raises(ValueError) as err:
        normalise_name("Lac")
    assert str(err.value) == (
        "unknown metabolite 'Lac'; known metabolites: tCho, tCr, NAA, Gly, Gln, Glu, Ins (also "
        "as their components joined by '+' or run together, e.g. GPC+PCh, CrPCr, NAANAAG; mI "
        "for Ins)"
    )
    with pytest.raises(NotAConcentration) as err:
        metabolite_from_filename("NAA_RatToCr.nii")
    assert str(err.value) == (
        "its name marks a ratio map ('RatToCr'), not a concentration map; only concentration "
        "(amplitude) maps can be super-resolved"
    )
    with pytest.raises(ValueError) as err:
        metabolite_from_filename("Gln_Glu.nii.gz")
    assert str(err.value) == "several metabolites (Gln, Glu) in the file name; give metabolite"
    with flags(FLAGS), pytest.raises(ValueError) as err:  # under mrsisr predict: its flag
        metabolite_from_filename("map.nii.gz")
    assert str(err.value) == "no known metabolite in the file name; give --metabolite"
