"""Release files agree with each other and with the package: LICENSE, CITATION.cff, CHANGELOG, version,
metadata, and the README's set-up commands install the extras they run."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

import mireg

ROOT = Path(__file__).resolve().parents[1]
INFOAT_AUTHORS = [("Xu", "Mengting"), ("Zhang", "Tao"), ("Li", "Zhongnian"), ("Zhang", "Daoqiang")]
NAMID_AUTHORS = [("Zhou", "Dawei"), ("Wang", "Nannan"), ("Gao", "Xinbo"), ("Han", "Bo"), ("Wang", "Xiaoyu"),
                 ("Zhan", "Yibing"), ("Liu", "Tongliang")]


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_license_is_mit_and_ships_in_the_wheel():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the mireg authors" in text
    meta = _setup_cfg()["metadata"]
    assert meta["license"] == "MIT" and "LICENSE" in meta["license_files"]


def test_citation_names_mireg_and_both_papers_with_their_authors():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == mireg.__version__ and cff["license"] == "MIT"
    refs = {ref["title"]: ref for ref in cff["references"]}
    infoat = refs["InfoAT: Improving Adversarial Training Using the Information Bottleneck Principle"]
    namid = refs["Improving Adversarial Robustness via Mutual Information Estimation"]
    for ref, authors in ((infoat, INFOAT_AUTHORS), (namid, NAMID_AUTHORS)):
        assert [(a["family-names"], a["given-names"]) for a in ref["authors"]] == authors
    assert infoat["identifiers"][0]["value"] == "arXiv:2206.12292" and infoat["year"] == 2022
    assert namid["identifiers"][0]["value"] == "arXiv:2207.12203" and namid["volume"] == 162


def test_readme_bibtex_and_paper_list_match_the_citation_file():
    readme = (ROOT / "README.md").read_text()
    for authors in (INFOAT_AUTHORS, NAMID_AUTHORS):
        bib = " and ".join(f"{family}, {given}" for family, given in authors)
        assert bib in re.sub(r"\s+", " ", readme)
    assert "Zhou, Wang, Gao, Han, Wang, Zhan, Liu" in readme and "Xu, Zhang, Li, Zhang" in readme


def test_version_changelog_and_policy_agree():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{mireg.__version__}]" in changelog and "## [0.1.0]" in changelog
    assert "## Version policy" in changelog and "semantic versioning" in changelog
    assert _setup_cfg()["metadata"]["version"] == "attr: mireg.__version__"


def test_metadata_is_complete():
    meta = _setup_cfg()["metadata"]
    for key in ("author", "description", "long_description", "keywords", "project_urls", "classifiers"):
        assert meta[key].strip(), key
    classifiers = meta["classifiers"]
    assert "Programming Language :: Python :: 3.10" in classifiers and "Typing :: Typed" in classifiers
    assert "arxiv.org/abs/2206.12292" in meta["project_urls"] and "arxiv.org/abs/2207.12203" in meta["project_urls"]


def test_readme_commands_install_what_they_run():
    readme = (ROOT / "README.md").read_text()
    commands = dict(re.findall(r"<!-- ci:(\w+) -->\n```bash\n(.*)\n", readme))
    assert commands["main"] == 'pip install ".[demo]" && mireg demo'
    assert commands["test"] == 'pip install ".[test]" && pytest'
    requirements = _setup_cfg()["options"]["install_requires"]
    assert "torchvision" not in requirements and "robustbench" not in requirements
    assert "setuptools" not in requirements and "matplotlib" not in requirements
