"""End-to-end tests of tests/hub_server.py with the real, unmodified huggingface_hub client.

conftest.py points HF_ENDPOINT at the session's server before huggingface_hub is imported.
"""

import os
import uuid
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


@pytest.fixture(scope="module")
def api(hub):
    return HfApi(token="any-token")


@pytest.fixture
def repo_id(api):
    rid = f"tester/repo-{uuid.uuid4().hex[:8]}"
    api.create_repo(rid, exist_ok=True, private=True)
    return rid


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "upload"
    files = {
        "README.md": b"# test model\n",
        "generator/config.json": b'{"hidden": 8}',
        "generator/model.safetensors": os.urandom(300_000),
        "generator/nested/deep.txt": b"deep",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root, files


def _read_tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_endpoint_points_at_server(hub):
    assert constants.ENDPOINT == hub.url


def test_create_repo_and_whoami(api, hub):
    rid = f"tester/create-{uuid.uuid4().hex[:8]}"
    url = api.create_repo(rid, private=True)
    assert url.repo_id == rid and url == f"{hub.url}/{rid}"
    assert api.create_repo(rid, exist_ok=True).repo_id == rid
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_repo(rid)
    assert exc.value.response.status_code == 409
    info = api.repo_info(rid)
    assert info.private is True and len(info.sha) == 40 and info.siblings == []
    assert api.whoami()["name"] == "tester"
    assert api.create_repo(f"plain-{uuid.uuid4().hex[:8]}").repo_id.startswith("tester/")


def test_upload_folder_and_download(api, hub, repo_id, folder, tmp_path):
    root, files = folder
    commit = api.upload_folder(folder_path=root, repo_id=repo_id, commit_message="first")
    assert len(commit.oid) == 40
    assert api.repo_info(repo_id).sha == commit.oid
    assert sorted(api.list_repo_files(repo_id)) == sorted(files)
    tree = {e.path: type(e).__name__ for e in api.list_repo_tree(repo_id, recursive=True)}
    assert tree["generator"] == tree["generator/nested"] == "RepoFolder"
    assert tree["generator/model.safetensors"] == "RepoFile"
    top = {e.path for e in api.list_repo_tree(repo_id)}
    assert top == {"README.md", "generator"}
    assert api.file_exists(repo_id, "generator/config.json")
    assert not api.file_exists(repo_id, "generator/missing.json")

    snap = snapshot_download(repo_id, cache_dir=tmp_path / "cache")
    assert Path(snap).name == commit.oid
    assert _read_tree(Path(snap)) == files

    part = snapshot_download(repo_id, allow_patterns=["generator/*.json"], cache_dir=tmp_path / "cache2")
    assert _read_tree(Path(part)) == {"generator/config.json": files["generator/config.json"]}

    path = hf_hub_download(repo_id, "generator/model.safetensors", cache_dir=tmp_path / "cache3")
    assert Path(path).read_bytes() == files["generator/model.safetensors"]
    assert ("HEAD", f"/{repo_id}/resolve/main/generator/model.safetensors") in hub.requests


def test_history_is_kept(api, repo_id, folder, tmp_path):
    root, files = folder
    first = api.upload_folder(folder_path=root, repo_id=repo_id, commit_message="first").oid
    second = api.upload_file(path_or_fileobj=b'{"hidden": 16}', path_in_repo="generator/config.json",
                             repo_id=repo_id, commit_message="second").oid
    assert first != second and api.repo_info(repo_id).sha == second
    assert api.repo_info(repo_id, revision=first).sha == first
    assert [c.commit_id for c in api.list_repo_commits(repo_id)][:2] == [second, first]

    old = hf_hub_download(repo_id, "generator/config.json", revision=first, cache_dir=tmp_path / "c")
    new = hf_hub_download(repo_id, "generator/config.json", revision="main", cache_dir=tmp_path / "c")
    assert Path(old).read_bytes() == b'{"hidden": 8}'
    assert Path(new).read_bytes() == b'{"hidden": 16}'
    assert _read_tree(Path(snapshot_download(repo_id, revision=first, cache_dir=tmp_path / "s"))) == files


def test_errors(api, repo_id, tmp_path):
    missing = f"tester/missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info(missing)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(missing, "config.json", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download(missing, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        api.repo_info(repo_id, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="0" * 40, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(repo_id, revision="no-such-branch", cache_dir=tmp_path)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "config.json", cache_dir=tmp_path)
    assert not api.repo_exists(missing) and api.repo_exists(repo_id)


def test_server_side_seed(hub, tmp_path):
    rid = f"tester/seed-{uuid.uuid4().hex[:8]}"
    sha = hub.commit_files(rid, {"a/b.txt": b"seeded"})
    path = hf_hub_download(rid, "a/b.txt", cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"seeded" and Path(path).parent.parent.name == sha
