"""playbooks/uninstall.yml on the deployed lab (runs last: it leaves the cluster uninstalled).

First it must refuse, changing nothing, while a job runs on a target; the job
completes. Then check mode changes nothing, the real run takes everything off,
every cluster host is pure again (its packages and its files under /etc,
/var/lib, /var/spool and /var/log/slurm* compared with the image the machine
was booted from), and a second run changes nothing.

A lab machine is an overlay on the suite's image (lab/lab): the image is the
overlay's lowerdir, the machine's own changes are its upperdir. Both are read
from the host's mount table, found through the lab's directory, which the
generated inventory names (its SSH key lives there).
"""
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

# What a pure machine may have that its image does not, none of it ours.
# Each entry is a regular expression over the path inside the machine.
NOT_OURS = [
    # Written by lab/lab when it boots the machine: its name, address, identity, host key.
    r"/etc/(hostname|hosts|machine-id)",
    r"/etc/ssh/ssh_host_ed25519_key(\.pub)?",
    # apt's and dpkg's own bookkeeping; the package lists are compared with dpkg-query instead.
    r"/var/lib/(apt|dpkg)(/.*)?",
    # systemd's stamp of its first boot after an update (ConditionNeedsUpdate), trixie.
    r"/etc/\.updated",
    # The dynamic linker's cache, rebuilt whenever a library comes or goes.
    r"/etc/ld\.so\.cache",
    # The lock and the previous copies (passwd-, group-, ...) that useradd and userdel leave;
    # passwd, group, shadow and gshadow themselves must be as in the image.
    r"/etc/\.pwd\.lock",
    r"/etc/(passwd|group|shadow|gshadow|subuid|subgid)-",
    # systemd's state of the running machine: journal catalog, random seed, timers, credentials.
    r"/var/lib/systemd/(catalog(/.*)?|random-seed|timers(/.*)?|credential\.secret|linger)",
    # Debian's deb-systemd-helper records of units, kept for units the image enables itself.
    r"/var/lib/systemd/deb-systemd-helper-(enabled|masked)",
    # ucf's previous copies of its registry, rotated when a purge unregisters a file.
    r"/var/lib/ucf/(hashfile|registry)\.[0-9]+",
    # The lab's /shared mount point (lab/lab up --shared).
    r"/shared",
]
NOT_OURS_RE = re.compile(r"\A(%s)\Z" % "|".join(NOT_OURS))
# Where to look for leftovers, inside the machine ("/var/log/slurm*": the logs of Slurm only).
COMPARED = ["/etc", "/var/lib", "/var/spool"]
COMPARED_LOGS = re.compile(r"\A/var/log/slurm")


def overlay_dirs(lab, host):
    """(image, changes) of a lab machine: its overlay's lowerdir and upperdir on this host."""
    lab_dir = Path(lab.inventory["all"]["vars"]["ansible_ssh_private_key_file"]).parents[1]
    merged = str(lab_dir / "machines" / host / "merged")
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if fields[4] == merged:
                options = dict(item.split("=", 1) for item in line.split(" - ", 1)[1].split()[2].split(",")
                               if "=" in item)
                return Path(options["lowerdir"]), Path(options["upperdir"])
    raise AssertionError("no overlay mounted at %s" % merged)


def packages_in_image(image):
    out = subprocess.run(["dpkg-query", "--admindir=%s" % (image / "var/lib/dpkg"), "-W",
                          "-f=${db:Status-Abbrev}${Package} ${Version}\\n"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def packages_on(lab, host):
    out = lab.ssh(host, "dpkg-query", "-W", "-f=${db:Status-Abbrev}${Package} ${Version}\\n").stdout
    return set(out.splitlines())


def _same(image_path, changed_path):
    """Whether an entry copied up into the machine's changes is still as in the image."""
    try:
        old, new = os.lstat(image_path), os.lstat(changed_path)
    except FileNotFoundError:
        return False
    if (stat.S_IFMT(old.st_mode), old.st_mode, old.st_uid, old.st_gid) != (
            stat.S_IFMT(new.st_mode), new.st_mode, new.st_uid, new.st_gid):
        return False
    if stat.S_ISLNK(new.st_mode):
        return os.readlink(image_path) == os.readlink(changed_path)
    if stat.S_ISREG(new.st_mode):
        return Path(image_path).read_bytes() == Path(changed_path).read_bytes()
    return True


def leftovers(image, changes):
    """Paths (inside the machine) that differ from the image: added, changed or removed."""
    found = []
    for top, dirs, files in os.walk(changes):
        inside = "/" + os.path.relpath(top, changes) if top != str(changes) else "/"
        for name in dirs + files:
            path = os.path.normpath(os.path.join(inside, name))
            if not (any(path == root or path.startswith(root + "/") for root in COMPARED)
                    or COMPARED_LOGS.match(path)):
                continue
            changed = os.path.join(top, name)
            info = os.lstat(changed)
            # An overlay whiteout: removed from the image.
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                found.append(path + " (removed)")
            elif not _same(str(image) + path, changed):
                found.append(path)
    return sorted(path for path in found if not NOT_OURS_RE.match(path.replace(" (removed)", "")))


def assert_pure(lab, host):
    image, changes = overlay_dirs(lab, host)
    # No exception for python3-apt: the roles install with apt_packages, which needs none.
    added = sorted(packages_on(lab, host) - packages_in_image(image))
    gone = sorted(packages_in_image(image) - packages_on(lab, host))
    assert (added, gone) == ([], []), "%s: packages not as in the image: added %s, gone %s" % (host, added, gone)
    assert leftovers(image, changes) == [], "%s differs from its image" % host
    # /run is a tmpfs inside the machine, not in the overlay.
    left = lab.ssh(host, "ls", "-d", "/run/munge", "/run/aiinfra-slurm", "/run/slurmrestd", check=False).stdout
    assert left.strip() == "", "%s: %s" % (host, left)
    hosts = lab.ssh(host, "cat", "/etc/hosts").stdout
    assert "aiinfra.slurm" not in hosts, hosts


def test_refuses_while_a_job_runs_and_changes_nothing(deployed_lab):
    lab = deployed_lab
    node = lab.computes[0]
    witness = lab.start_witness(node)
    try:
        conf_before = lab.ssh(lab.controller, "sha1sum", "/etc/slurm/slurm.conf").stdout
        for args, word in ((["-e", "nodes=%s" % node], "killed"), ([], "lost")):
            run = lab.playbook("playbooks/uninstall.yml", *args)
            assert run.rc != 0, run.explain()
            assert "Jobs would be %s: %s RUNNING on %s" % (word, witness.job_id, node) in run.stdout, run.explain()
            assert all(changed == 0 for changed in run.changed().values()), run.changed()
        witness.assert_running()
        assert lab.ssh(lab.controller, "sha1sum", "/etc/slurm/slurm.conf").stdout == conf_before
        witness.assert_completed()
    finally:
        witness.release()


def test_check_mode_changes_nothing(deployed_lab):
    lab = deployed_lab
    run = lab.playbook("playbooks/uninstall.yml", "--check", "--diff")
    assert run.rc == 0 and not run.failures(), run.explain()
    assert all(changed > 0 for changed in run.changed().values()), run.changed()
    # Still the whole cluster: every node idle, munge and slurmrestd's proxy up.
    out = lab.ssh(lab.controller, "sinfo", "--noheader", "--Node", "--format=%N %t").stdout
    assert dict(line.split() for line in out.splitlines()) == {node: "idle" for node in lab.computes}
    for host in lab.hosts:
        lab.ssh(host, "systemctl", "is-active", "munge")
    lab.ssh(lab.controller, "systemctl", "is-active", "nginx", "slurmrestd", "slurmdbd", "mariadb")


def test_uninstall_leaves_pure_hosts_and_a_second_run_changes_nothing(deployed_lab):
    lab = deployed_lab
    run = lab.playbook("playbooks/uninstall.yml")
    assert run.rc == 0 and not run.failures(), run.explain()
    print("uninstall: %.1f s" % run.seconds)
    for host in lab.hosts:
        assert_pure(lab, host)
    # The site CA's copy on the control node went with the proxy.
    assert not lab.rest_ca_path.exists()
    again = lab.playbook("playbooks/uninstall.yml")
    assert again.rc == 0 and not again.failures(), again.explain()
    assert again.changed() == {host: 0 for host in lab.hosts}, again.changed_tasks()


@pytest.fixture(autouse=True, scope="module")
def _report_machine_paths(deployed_lab):
    """Fail early, naming the cause, when the lab's overlays cannot be found."""
    for host in deployed_lab.hosts:
        overlay_dirs(deployed_lab, host)
