"""Day-2 key operations on a deployed lab: munge and JWT rotation, backup and restore.

During each operation a witness job (conftest's Lab.start_witness) runs on a
compute node and must complete with exit 0: no operation may lose a job it was not asked to touch. The keys
themselves must never appear in the output, even at -vvvv.
"""
import base64
import hashlib
import io
import re
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import UNPLUGGED_ENV, daemon_pids, wait_idle

MUNGE_KEY = "/etc/munge/munge.key"
JWT_KEY = "/etc/slurm/jwt_hs256.key"
LAB = Path(__file__).resolve().parents[2] / "lab" / "lab"


def reset_and_deploy(lab):
    """Every machine back to pure (LAB_ID from the environment), then site.yml."""
    subprocess.run([str(LAB), "reset"], check=True, capture_output=True, timeout=600)
    run = lab.playbook("playbooks/site.yml")
    assert run.rc == 0 and not run.failures(), run.explain()


def job_fields(lab, job_id):
    out = lab.ssh(lab.controller, "scontrol", "-o", "show", "job", str(job_id)).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def read_key(lab, host, path):
    """(sha1, base64) of a key on a host, read over SSH for the checks only."""
    data = base64.b64decode(lab.ssh(host, "base64", "-w0", path).stdout.strip())
    return hashlib.sha1(data).hexdigest(), base64.b64encode(data).decode()


def assert_secret_absent(run, *secrets):
    for secret in secrets:
        assert secret not in run.stdout and secret not in run.stderr, "a key appeared in the playbook's output"
        # Also a fragment, in case something wraps or slices it.
        assert secret[8:48] not in run.stdout and secret[8:48] not in run.stderr


def rest_status(lab, token, version):
    # diag, not ping: 24.11 answers ping without having slurmctld check the token.
    script = ("import sys, urllib.request, urllib.error\n"
              "r = urllib.request.Request('http://127.0.0.1:6820/slurm/%s/diag', headers={\n"
              "    'X-SLURM-USER-NAME': 'root', 'X-SLURM-USER-TOKEN': sys.stdin.read().strip()})\n"
              "try:\n    print(urllib.request.urlopen(r, timeout=30).status)\n"
              "except urllib.error.HTTPError as e:\n    print(e.code)\n" % version)
    return int(lab.ssh(lab.controller, "python3", "-c", script, stdin=token).stdout.strip())


def mint_token(lab):
    return lab.ssh(lab.controller, "scontrol", "token", "lifespan=600", "username=root").stdout.strip().split("=", 1)[1]


@pytest.fixture(scope="module")
def lab(deployed_lab):
    return deployed_lab


# Under free each host would run the key's run_once creation itself (and install the key it
# found then): the playbook pins linear, whatever ANSIBLE_STRATEGY says.
@pytest.mark.parametrize("strategy", ["linear", "free"])
def test_munge_rotate_changes_the_key_everywhere_and_keeps_jobs(lab, strategy):
    node = lab.computes[-1]
    before = {host: read_key(lab, host, MUNGE_KEY) for host in lab.hosts}
    assert len(set(before.values())) == 1
    old_sha1, old_b64 = next(iter(before.values()))
    witness = lab.start_witness(node)

    run = lab.playbook("playbooks/munge_rotate.yml", "-vvvv", env={"ANSIBLE_STRATEGY": strategy})
    assert run.rc == 0 and not run.failures(), run.explain()

    after = {host: read_key(lab, host, MUNGE_KEY) for host in lab.hosts}
    assert len(set(after.values())) == 1, "hosts disagree on the munge key after the rotation"
    new_sha1, new_b64 = next(iter(after.values()))
    assert new_sha1 != old_sha1
    assert_secret_absent(run, old_b64, new_b64)
    for host in lab.hosts:
        # The previous key is kept beside the new one, byte-exact, still 0400.
        listing = lab.ssh(host, "sh", "-c", "sha1sum /etc/munge/munge.key.*~; stat -c %a /etc/munge/munge.key.*~")
        assert old_sha1 in listing.stdout and "400" in listing.stdout.split()
    # Slurm's own traffic uses the new key: a job across every node runs.
    out = lab.ssh(lab.controller, "srun", "-N%d" % len(lab.computes), "hostname", timeout=120).stdout.split()
    assert sorted(out) == sorted(lab.computes)
    witness.assert_completed()


def test_munge_rotate_refuses_part_of_the_cluster(lab):
    """A rotation on part of the cluster would leave the rest on the old key, unable to talk to it.
    --limit to one node is refused, and a node cut off the network stops the run on every host: no key
    written and no munged restarted anywhere (the others used to switch without it). On request
    (munge_rotate_allow_partial) a node is left out, and site.yml gives it the new key afterwards."""
    up, down = lab.computes[0], lab.computes[-1]
    before = dict((host, read_key(lab, host, MUNGE_KEY)[0]) for host in lab.hosts)
    munged = daemon_pids(lab, lab.hosts, "munge")
    witness = lab.start_witness(up)
    try:
        run = lab.playbook("playbooks/munge_rotate.yml", "--limit", up)
        assert run.rc != 0
        assert "Not rotated: " in run.stdout and down in run.stdout and lab.controller in run.stdout, run.stdout[-3000:]
        assert "Install the new key" not in " ".join(name for name, _host, _status in run.results), run.results

        lab.unplug(down)
        try:
            run = lab.playbook("playbooks/munge_rotate.yml", env=UNPLUGGED_ENV)
        finally:
            lab.plug(down)
        assert run.rc != 0
        assert run.stats.get(down, {}).get("unreachable"), run.stats
        assert "Install the new key" not in " ".join(name for name, _host, _status in run.results), run.results
        assert dict((host, read_key(lab, host, MUNGE_KEY)[0]) for host in lab.hosts) == before
        assert daemon_pids(lab, lab.hosts, "munge") == munged

        # A node down for repair left out on request; site.yml then gives it the new key before it rejoins.
        run = lab.playbook("playbooks/munge_rotate.yml", "--limit", "all:!" + down, "-e", "munge_rotate_allow_partial=true")
        assert run.rc == 0 and not run.failures(), run.explain()
        after = dict((host, read_key(lab, host, MUNGE_KEY)[0]) for host in lab.hosts)
        assert after[down] == before[down], after
        assert len(set(after[host] for host in lab.hosts if host != down)) == 1 and after[up] != before[up], after
        run = lab.playbook("playbooks/site.yml", "--limit", down)
        assert run.rc == 0, run.explain()
        assert read_key(lab, down, MUNGE_KEY)[0] == after[up]
        witness.assert_completed()
    finally:
        witness.release()
    wait_idle(lab, lab.computes)
    out = lab.ssh(lab.controller, "srun", "-N%d" % len(lab.computes), "hostname", timeout=120).stdout.split()
    assert sorted(out) == sorted(lab.computes)


def test_jwt_rotate_refuses_old_tokens_and_accepts_new_ones(lab):
    node = lab.computes[0]
    version = "v0.0.38" if lab.suite == "bookworm" else "v0.0.40"
    old_sha1, old_b64 = read_key(lab, lab.controller, JWT_KEY)
    old_token = mint_token(lab)
    assert rest_status(lab, old_token, version) == 200
    witness = lab.start_witness(node)

    run = lab.playbook("playbooks/jwt_rotate.yml", "-vvv")
    assert run.rc == 0 and not run.failures(), run.explain()

    new_sha1, new_b64 = read_key(lab, lab.controller, JWT_KEY)
    assert new_sha1 != old_sha1
    assert_secret_absent(run, old_b64, new_b64, old_token)
    assert rest_status(lab, old_token, version) != 200, "a token signed with the old key is still accepted"
    assert rest_status(lab, mint_token(lab), version) == 200
    mode = lab.ssh(lab.controller, "stat", "-c", "%a %U", JWT_KEY).stdout.split()
    assert mode == ["600", "slurm"]
    witness.assert_completed()


def test_jwt_rotate_refuses_part_of_its_hosts(lab, tmp_path):
    """A slurm_dbd host besides the controller (lab-node2, for this test only): jwt_rotate limited to the
    controller is refused, and with that host off the network the run stops before any key is made. The
    controller used to take the new key and restart alone, the other host keeping the old one."""
    other, node = lab.computes[-1], lab.computes[0]
    dbd = tmp_path / "dbd.yml"
    dbd.write_text(yaml.safe_dump({"all": {"children": {"slurm_dbd": {"hosts": {other: {}}}}}}))
    key = read_key(lab, lab.controller, JWT_KEY)
    pids = daemon_pids(lab, [lab.controller])
    witness = lab.start_witness(node)
    try:
        run = lab.playbook("playbooks/jwt_rotate.yml", "-i", str(dbd), "--limit", lab.controller)
        assert run.rc != 0, run.explain()
        assert "Not rotated: %s would keep the old key" % other in run.stdout, run.stdout[-3000:]
        # Leaving out hosts on request never leaves out the controller.
        run = lab.playbook("playbooks/jwt_rotate.yml", "-i", str(dbd), "--limit", other,
                           "-e", "jwt_rotate_allow_partial=true")
        assert run.rc != 0, run.explain()
        assert "Not rotated: %s would keep the old key" % lab.controller in run.stdout, run.stdout[-3000:]

        lab.unplug(other)
        try:
            run = lab.playbook("playbooks/jwt_rotate.yml", "-i", str(dbd), env=UNPLUGGED_ENV)
        finally:
            lab.plug(other)
        assert run.rc != 0 and run.stats[other]["unreachable"], run.explain()
        assert "Generate the new key on the control node" not in [name for name, _host, _status in run.results]
        assert read_key(lab, lab.controller, JWT_KEY) == key
        assert daemon_pids(lab, [lab.controller]) == pids
        witness.assert_completed()
    finally:
        witness.release()


def test_backup_then_restore_onto_a_fresh_controller(lab, tmp_path):
    node = lab.computes[0]
    held = lab.ssh(lab.controller, "sbatch", "--parsable", "--hold", "--wrap", "echo held").stdout.strip()
    keys = {path: read_key(lab, lab.controller, path) for path in (MUNGE_KEY, JWT_KEY)}
    witness = lab.start_witness(node)

    backup_dir = tmp_path / "backups"
    run = lab.playbook("playbooks/backup.yml", "-vvv", "-e", "backup_dir=%s" % backup_dir)
    assert run.rc == 0 and not run.failures(), run.explain()
    assert_secret_absent(run, *(b64 for _sha1, b64 in keys.values()))
    archives = list(backup_dir.glob("slurm-backup-*.tar.gz"))
    assert len(archives) == 1
    assert stat.S_IMODE(archives[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    # slurmctld was stopped for the copy; the running job did not notice.
    witness.assert_completed()

    # The controller is lost: every machine back to pure, the cluster deployed anew.
    reset_and_deploy(lab)
    assert held not in lab.ssh(lab.controller, "squeue", "--noheader", "--format=%i").stdout.split()
    assert read_key(lab, lab.controller, MUNGE_KEY) != keys[MUNGE_KEY]

    run = lab.playbook("playbooks/restore.yml", "-vvv", "-e", "restore_archive=%s" % archives[0])
    assert run.rc == 0 and not run.failures(), run.explain()
    assert_secret_absent(run, *(b64 for _sha1, b64 in keys.values()))

    fields = job_fields(lab, held)
    assert fields["JobId"] == held and fields["JobState"] == "PENDING" and fields["Reason"] == "JobHeldUser"
    for host in lab.hosts:
        assert read_key(lab, host, MUNGE_KEY) == keys[MUNGE_KEY]
    assert read_key(lab, lab.controller, JWT_KEY) == keys[JWT_KEY]
    # The restored cluster runs jobs, and its next job id follows the restored ones.
    out = lab.ssh(lab.controller, "srun", "-N%d" % len(lab.computes), "hostname", timeout=120).stdout.split()
    assert sorted(out) == sorted(lab.computes)
    lab.ssh(lab.controller, "scancel", held)
    # The backup caught the witness while it ran: the restored state still lists it
    # (22.05 keeps it "running" on a node that never heard of it). Later tests need
    # the nodes free: cancel what the old state brought back and wait until it is gone.
    lab.ssh(lab.controller, "scancel", "--user=root")
    deadline = time.monotonic() + 120
    while lab.ssh(lab.controller, "squeue", "--noheader", "--format=%i").stdout.split():
        assert time.monotonic() < deadline, lab.ssh(lab.controller, "squeue").stdout
        time.sleep(2)

    # A restore whose munge key cannot be written on the controller stops there and
    # leaves no unpacked archive (with the keys in it) behind.
    lab.ssh(lab.controller, "sh", "-c", "mv %s %s.kept && mkdir %s" % (MUNGE_KEY, MUNGE_KEY, MUNGE_KEY))
    try:
        run = lab.playbook("playbooks/restore.yml", "-e", "restore_archive=%s" % archives[0])
        assert run.rc != 0, run.explain()
        assert "Restoring the munge key and the configuration on %s failed" % lab.controller in run.stdout, run.explain()
        assert_secret_absent(run, *(b64 for _sha1, b64 in keys.values()))
        assert lab.ssh(lab.controller, "find", "/tmp", "-maxdepth", "1", "-name", "slurm-restore.*").stdout == ""
    finally:
        lab.ssh(lab.controller, "sh", "-c", "rmdir %s && mv %s.kept %s" % (MUNGE_KEY, MUNGE_KEY, MUNGE_KEY))
    for host in lab.computes:
        assert read_key(lab, host, MUNGE_KEY) == keys[MUNGE_KEY]

    # The archive's description says where keys and files go, as root on every host: one that
    # points elsewhere is refused before anything is read from it or written.
    shadow = lab.ssh(lab.controller, "sha1sum", "/etc/shadow").stdout
    for changes in ({"munge_key": "/etc/shadow"}, {"config_dir": "/etc"}, {"state_dir": "/var/lib/slurm/../../../tmp"},
                    {"accounting_dump": "accounting.sql\nDROP DATABASE slurm_acct_db;"}):
        run = lab.playbook("playbooks/restore.yml", "-e", "restore_archive=%s" % tampered(archives[0], tmp_path, changes))
        assert run.rc != 0, run.explain()
        assert "paths that are not this cluster's" in run.stdout and "Nothing was restored" in run.stdout, \
            (changes, run.stdout[-3000:])
        assert "Read the backed-up munge key" not in [name for name, _host, _status in run.results], run.results
        assert lab.ssh(lab.controller, "find", "/tmp", "-maxdepth", "1", "-name", "slurm-restore.*").stdout == ""
    assert lab.ssh(lab.controller, "sha1sum", "/etc/shadow").stdout == shadow

    # Over a running job, which the backed-up state does not know: refused, and the job completes.
    witness = lab.start_witness(node)
    try:
        run = lab.playbook("playbooks/restore.yml", "-e", "restore_archive=%s" % archives[0])
        assert run.rc != 0, run.explain()
        assert "1 job(s) run on this cluster now" in run.stdout and "Nothing was restored" in run.stdout, \
            run.stdout[-3000:]
        assert lab.ssh(lab.controller, "find", "/tmp", "-maxdepth", "1", "-name", "slurm-restore.*").stdout == ""
        witness.assert_completed()
    finally:
        witness.release()
    for host in lab.hosts:
        assert read_key(lab, host, MUNGE_KEY) == keys[MUNGE_KEY]

    # A saved state slurmctld cannot start on, and a database changed since the backup: the previous state
    # and database go back (the database used to keep the backup's, the account made since was lost).
    lab.ssh(lab.controller, "sacctmgr", "--immediate", "add", "account", "restore-marker")
    run = lab.playbook("playbooks/restore.yml", "-e", "restore_archive=%s" % state_as_a_file(archives[0], tmp_path))
    try:
        assert run.rc != 0, run.explain()
        assert "Back in place: the previous state, accounting database; slurmctld was started" in run.stdout, \
            run.stdout[-3000:]
        accounts = lab.ssh(lab.controller, "sacctmgr", "--noheader", "--parsable2", "list", "account", "format=Account")
        assert "restore-marker" in accounts.stdout.split(), accounts.stdout
        state_dir = _manifest(archives[0])["state_dir"]
        assert lab.ssh(lab.controller, "sh", "-c", "test -d %s && ls -d %s.failed-restore-* %s.pre-restore-*.accounting.sql"
                       % (state_dir, state_dir, state_dir)).stdout
        modes = lab.ssh(lab.controller, "sh", "-c", "stat -c %%a %s.pre-restore-*.accounting.sql" % state_dir).stdout.split()
        assert modes and set(modes) == {"600"}, modes
        out = lab.ssh(lab.controller, "srun", "-N%d" % len(lab.computes), "hostname", timeout=120).stdout.split()
        assert sorted(out) == sorted(lab.computes)
    finally:
        lab.ssh(lab.controller, "sacctmgr", "--immediate", "delete", "account", "restore-marker")


def _copy_archive(archive, path, change):
    """A copy of a backup archive: change(name, member, data) gives the (member, data) pairs for each member."""
    with tarfile.open(archive) as source, tarfile.open(path, "w:gz") as copy:
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            for new_member, new_data in change(member.name.lstrip("./"), member, data):
                copy.addfile(new_member, new_data)
    path.chmod(0o600)
    return path


def _manifest(archive):
    with tarfile.open(archive) as source:
        member = next(member for member in source.getmembers() if member.name.lstrip("./") == "backup.yml")
        return yaml.safe_load(source.extractfile(member).read())


def tampered(archive, tmp_path, changes):
    """A copy of a backup archive whose description (backup.yml) says CHANGES."""
    manifest = dict(_manifest(archive), **changes)
    text = yaml.safe_dump(manifest).encode()

    def change(name, member, data):
        if name == "backup.yml":
            member.size = len(text)
            data = io.BytesIO(text)
        return [(member, data)]

    return _copy_archive(archive, tmp_path / ("tampered-%s.tar.gz" % "-".join(sorted(changes))), change)


def state_as_a_file(archive, tmp_path):
    """A copy of a backup archive whose StateSaveLocation is a file: slurmctld cannot start on it."""
    state = _manifest(archive)["state_dir"].strip("/")
    text = b"not a state directory\n"

    def change(name, member, data):
        if name == state:
            member = tarfile.TarInfo(member.name)
            member.size, member.mode = len(text), 0o600
            return [(member, io.BytesIO(text))]
        return [] if name.startswith(state + "/") else [(member, data)]

    return _copy_archive(archive, tmp_path / "state-as-a-file.tar.gz", change)
