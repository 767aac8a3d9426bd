#!/usr/bin/env python3
"""System test of the container image recipe, container/compose.yaml and the Kubernetes manifests,
without a Docker engine or a cluster: what can be checked against the real binaries is.

- The runtime stage's package list is exactly what `ldd` of the built horizond and horizonctl
  needs (each library mapped to its Debian package with `dpkg -S`), plus libcap2-bin for setcap.
- The Dockerfile's paths, user, capability, volume, ports and HEALTHCHECK agree with what horizond
  reads and serves; the HEALTHCHECK command itself runs against a real horizond (and fails
  without one); the image's own horizon.toml passes --check-config.
- compose.yaml: the kind network, the fixed address that `horizonctl kind init --horizon-ip`
  writes a configuration for (which passes --check-config), mounts and ports that match.
- container/k8s: every manifest parses (and renders with `kubectl kustomize` when kubectl is
  installed); each port, probe path, mount and path in the Deployment and Services matches the
  ConfigMap's horizon.toml and the image. Then the ConfigMap's horizon.toml, moved to loopback
  ports, is served by the real horizond from a directory laid out as the kubelet lays out a
  ConfigMap volume: the probe paths answer 200; mutating admin calls are refused (read-only);
  an update of the ConfigMap (the kubelet's atomic symlink swap) flips the answers without a
  restart; a broken update keeps serving and keeps the pod ready.

usage: test_container.py --horizond PATH --horizonctl PATH --source DIR --data DIR [--only RE]
Prints one line per check and, last, "N passed, M failed, K skipped"; exits 0 unless one failed.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    CheckFailed, Checks, Horizond, dig_short, expect_valid_config, framed_log_tail, free_port,
    http_get, parse_args, run, run_script, yaml_docs)

TIME_BUDGET = 150.0
# Packages of the runtime stage that no binary links: the tool the stage runs itself.
RUNTIME_TOOLS = {"libcap2-bin"}
# Sanitizer runtimes appear only in the ASan+UBSan test build, never in the image's build.
SANITIZER_PACKAGES = re.compile(r"^lib(asan|ubsan|lsan|tsan)\d*$")


class Env:
    horizond = horizonctl = ""
    source = data = tmp = Path()


ENV = Env()


def yaml_file(path: Path) -> list[dict]:
    return yaml_docs(path.read_text(), str(path))


def check_config(path: Path):
    expect_valid_config(ENV.horizond, path)


def toml_value(text: str, key: str):
    for line in text.splitlines():
        if line.split("=")[0].strip() == key:
            return json.loads(line.split("=", 1)[1].split(" #")[0].strip())
    return None


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def with_loopback(text: str, dns_port: int, admin_port: int) -> str:
    """A horizon.toml with its listeners moved to loopback ports of this test."""
    text = re.sub(r"(?m)^listen = .*$", f'listen = ["127.0.0.1:{dns_port}"]', text)
    return re.sub(r"(?m)^admin_listen = .*$", f'admin_listen = "127.0.0.1:{admin_port}"', text)


# ------------------------------------------------------------------------------------------------
# The Dockerfile


class Dockerfile:
    """The instructions of each stage, continuation lines joined."""

    def __init__(self, path: Path):
        self.stages: dict[str, list[tuple[str, str]]] = {}
        current = None
        logical = ""
        for raw in path.read_text().splitlines():
            if not logical and (raw.lstrip().startswith("#") or not raw.strip()):
                continue
            if raw.rstrip().endswith("\\"):
                logical += raw.rstrip()[:-1] + " "
                continue
            logical += raw
            word, _, rest = logical.strip().partition(" ")
            logical = ""
            word = word.upper()
            if word == "FROM":
                m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
                current = m.group(2) or m.group(1)
                self.stages[current] = [("FROM", m.group(1))]
            elif current is not None:
                self.stages[current].append((word, rest.strip()))

    def get(self, stage: str, word: str) -> list[str]:
        return [rest for w, rest in self.stages.get(stage, []) if w == word]

    def exec_form(self, stage: str, word: str) -> list[str]:
        values = self.get(stage, word)
        if len(values) != 1:
            raise CheckFailed(f"{word} in stage {stage}: {len(values)} (want one)")
        text = values[0]
        if word == "HEALTHCHECK":
            text = text[text.index("CMD") + 3:].strip()
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise CheckFailed(f"{word} is not in exec (JSON) form: {text}") from None


def dockerfile() -> Dockerfile:
    df = Dockerfile(ENV.source / "container" / "Dockerfile")
    if set(df.stages) != {"build", "runtime"}:
        raise CheckFailed(f"stages: {list(df.stages)} (want build, runtime)")
    return df


def runtime_packages(df: Dockerfile) -> list[str]:
    installs = [r for r in df.get("runtime", "RUN") if "apt-get install" in r]
    if len(installs) != 1:
        raise CheckFailed("the runtime stage needs exactly one apt-get install")
    words = shlex.split(installs[0].split("apt-get install", 1)[1].split("&&")[0])
    return [w for w in words if not w.startswith("-")]


def linked_packages() -> dict[str, set[str]]:
    """Debian package -> the libraries of horizond/horizonctl it provides (ldd + dpkg -S)."""
    libs: dict[str, list[str]] = {}  # library path -> the paths dpkg may know it by
    for binary in (ENV.horizond, ENV.horizonctl):
        p = run(["ldd", binary], check=True)
        for line in p.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
            if not m:
                continue  # linux-vdso.so.1 has no file
            path = m.group(m.lastindex)
            candidates = [path, os.path.realpath(path)]
            for c in list(candidates):  # usrmerge: dpkg may know /lib or /usr/lib
                candidates.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
            libs[path] = candidates
    # One dpkg -S for all: "package:arch: /path" per path it knows (it says which it does not).
    q = run(["dpkg", "-S", *sorted({c for cs in libs.values() for c in cs})], timeout=60)
    owner = {}
    for line in q.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        owner[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    out: dict[str, set[str]] = {}
    for path, candidates in libs.items():
        pkg = next((owner[c] for c in candidates if c in owner), None)
        if pkg is None:
            raise CheckFailed(f"a binary links {path}, which no Debian package provides "
                              "(dpkg -S): the image could not install it")
        out.setdefault(pkg, set()).add(os.path.basename(path))
    return out


def check_runtime_packages():
    df = dockerfile()
    listed = runtime_packages(df)
    linked = {p: libs for p, libs in linked_packages().items() if not SANITIZER_PACKAGES.match(p)}
    missing = sorted(set(linked) - set(listed))
    extra = sorted(set(listed) - set(linked) - RUNTIME_TOOLS)
    if missing or extra:
        raise CheckFailed("the runtime stage's packages do not match ldd of the binaries:\n"
                          + "".join(f"  missing {p} (for {', '.join(sorted(linked[p]))})\n"
                                    for p in missing)
                          + "".join(f"  not linked by either binary: {p}\n" for p in extra))
    if "libcap2-bin" not in listed:
        raise CheckFailed("libcap2-bin (setcap) is not installed in the runtime stage")
    return f"({len(linked)} packages: {' '.join(sorted(linked))})"


def check_build_stage():
    df = dockerfile()
    if df.get("build", "FROM") != ["debian:bookworm"] or \
            not df.get("runtime", "FROM")[0].startswith("debian:bookworm"):
        raise CheckFailed("both stages must be Debian bookworm")
    runs = " ".join(df.get("build", "RUN"))
    if "bash setup.sh build" not in runs:
        raise CheckFailed("the build stage does not use the project's setup script")
    setup = (ENV.source / "setup.sh").read_text()
    if not re.search(r"(?m)^build\)\n(.*\n)*?\s+build build\n", setup):
        raise CheckFailed("setup.sh build no longer builds into build/: fix the COPY --from paths")
    workdir = df.get("build", "WORKDIR")[-1]
    copies = [c for c in df.get("runtime", "COPY") if c.startswith("--from=build")]
    want = {f"{workdir}/build/horizond", f"{workdir}/build/horizonctl"}
    if not copies or not want <= set(copies[0].split()):
        raise CheckFailed(f"COPY --from=build should take {sorted(want)}: {copies}")
    ignore = (ENV.source / "container" / "Dockerfile.dockerignore").read_text().split()
    if "build" not in ignore or ".git" not in ignore:
        raise CheckFailed("Dockerfile.dockerignore must keep build/ and .git out of the context")


def check_runtime_stage():
    df = dockerfile()
    user = df.get("runtime", "USER")
    if not user or user[-1].split(":")[0] in ("root", "0"):
        raise CheckFailed(f"the runtime stage must end as a non-root USER: {user}")
    runs = " ".join(df.get("runtime", "RUN"))
    if not re.search(r"setcap cap_net_bind_service=\+ep /usr/local/bin/horizond", runs):
        raise CheckFailed("horizond does not get cap_net_bind_service")
    m = re.search(r"useradd .*--uid (\d+) .*\b" + re.escape(user[-1].split(":")[0]) + r"\b", runs)
    if not m:
        raise CheckFailed(f"no useradd of {user[-1]} with a fixed --uid")
    entry = df.exec_form("runtime", "ENTRYPOINT")
    if entry[0] != "horizond" or "--config" not in entry or "--state-dir" not in entry:
        raise CheckFailed(f"ENTRYPOINT: {entry}")
    config = entry[entry.index("--config") + 1]
    state = entry[entry.index("--state-dir") + 1]
    if config != "/etc/horizon/horizon.toml":
        raise CheckFailed(f"--config {config} (want /etc/horizon/horizon.toml)")
    volumes = json.loads(df.get("runtime", "VOLUME")[0])
    if volumes != [state]:
        raise CheckFailed(f"VOLUME {volumes} should be the state directory {state}")
    if not re.search(rf"install -d -o {user[-1].split(':')[0]} .*{re.escape(state)}", runs):
        raise CheckFailed(f"{state} must be created owned by the runtime user")
    copied = [c.split() for c in df.get("runtime", "COPY") if not c.startswith("--from")]
    if ["container/horizon.toml", config] not in copied:
        raise CheckFailed(f"the image's default configuration is not copied to {config}")
    image_config = ENV.source / "container" / "horizon.toml"
    check_config(image_config)
    text = image_config.read_text()
    dns_port = {port_of(x) for x in toml_value(text, "listen")}
    admin_port = port_of(toml_value(text, "admin_listen"))
    exposed = set(" ".join(df.get("runtime", "EXPOSE")).split())
    want = {f"{p}/udp" for p in dns_port} | {f"{p}/tcp" for p in dns_port} | {f"{admin_port}/tcp"}
    if exposed != want:
        raise CheckFailed(f"EXPOSE {sorted(exposed)}, but the image's config serves {sorted(want)}")
    health = df.exec_form("runtime", "HEALTHCHECK")
    script = health[-1]
    if f"/dev/tcp/127.0.0.1/{admin_port}" not in script or "GET /healthz " not in script:
        raise CheckFailed(f"HEALTHCHECK should ask /healthz on port {admin_port}: {health}")
    return f"(uid {m.group(1)})"


def check_healthcheck_runs():
    """The HEALTHCHECK command, with its port moved to a test horizond's admin port."""
    df = dockerfile()
    health = df.exec_form("runtime", "HEALTHCHECK")
    text = (ENV.source / "container" / "horizon.toml").read_text()
    admin_port = port_of(toml_value(text, "admin_listen"))
    dns, admin = free_port(), free_port(udp=False)
    cfg = ENV.tmp / "image" / "horizon.toml"
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text(with_loopback(text, dns, admin))
    argv = [a.replace(f"/dev/tcp/127.0.0.1/{admin_port}", f"/dev/tcp/127.0.0.1/{admin}")
            for a in health]
    h = Horizond(ENV.horizond, cfg, ENV.tmp / "image-state", ENV.tmp / "image.log",
                 f"127.0.0.1:{admin}")
    h.start()
    try:
        p = run(argv, timeout=5)
        if p.returncode != 0:
            raise CheckFailed(f"HEALTHCHECK failed against a healthy horizond: {p.returncode}\n"
                              f"{p.stdout}{p.stderr}")
    finally:
        h.stop()
    p = run(argv, timeout=5)
    if p.returncode == 0:
        raise CheckFailed("HEALTHCHECK succeeded with horizond stopped")


# ------------------------------------------------------------------------------------------------
# compose.yaml


def check_compose():
    compose_path = ENV.source / "container" / "compose.yaml"
    doc = yaml_file(compose_path)[0]
    svc = doc["services"]["horizond"]
    build = svc["build"]
    context = (compose_path.parent / build["context"]).resolve()
    if context != ENV.source.resolve() or not (context / build["dockerfile"]).exists():
        raise CheckFailed(f"build context {context} / {build['dockerfile']}")
    if doc["networks"]["kind"] != {"external": True}:
        raise CheckFailed("the kind network must be external (kind creates it)")
    address = svc["networks"]["kind"]["ipv4_address"]
    m = re.fullmatch(r"\$\{HORIZON_IP:-([0-9.]+)\}", address)
    if not m:
        raise CheckFailed(f"ipv4_address {address}: want ${{HORIZON_IP:-<default>}}")
    ip = m.group(1)  # inside the recorded network's 172.18.0.0/16
    df = dockerfile()
    entry = df.exec_form("runtime", "ENTRYPOINT")
    config_dir = os.path.dirname(entry[entry.index("--config") + 1])
    state = entry[entry.index("--state-dir") + 1]
    # SOURCE:TARGET[:ro], SOURCE possibly ${VAR:-default} with colons of its own.
    targets = {(v.rsplit(":", 2)[1] if v.endswith(":ro") else v.rsplit(":", 1)[1]): v
               for v in svc["volumes"]}
    if config_dir not in targets or not targets[config_dir].endswith(":ro"):
        raise CheckFailed(f"the configuration directory {config_dir} must be mounted read-only: "
                          f"{svc['volumes']}")
    if state not in targets or targets[state].rsplit(":", 1)[0] not in doc.get("volumes", {}):
        raise CheckFailed(f"the state directory {state} must be a named volume: {svc['volumes']}")
    if "NET_BIND_SERVICE" not in svc.get("cap_add", []):
        raise CheckFailed("cap_add lacks NET_BIND_SERVICE (horizond's file capability needs it "
                          "in the bounding set)")
    # The configuration kind init writes for this address serves what compose publishes.
    out = ENV.tmp / "compose-lab"
    # A fixed address needs the network's IPv4 range pinned (created by hand before kind).
    p = run([ENV.horizonctl, "kind", "init", "--horizon-ip", ip, "--network",
             str(ENV.data / "kind" / "network-kind-pinned.json"), "--kubeconfig",
             str(ENV.data / "kind" / "kubeconfig-aews.yaml"), "--out", str(out)])
    if p.returncode != 0:
        raise CheckFailed(f"kind init --horizon-ip {ip}: {p.returncode}\n{p.stderr}")
    check_config(out / "horizon.toml")
    text = (out / "horizon.toml").read_text()
    admin_port = port_of(toml_value(text, "admin_listen"))
    published = [str(x) for x in svc.get("ports", [])]
    if published != [f"127.0.0.1:{admin_port}:{admin_port}"]:
        raise CheckFailed(f"ports {published}: want the admin port {admin_port} on the host's "
                          "loopback")
    if f"{ip}:53" not in toml_value(text, "listen"):
        raise CheckFailed(f"kind init --horizon-ip {ip} listens on {toml_value(text, 'listen')}")


# ------------------------------------------------------------------------------------------------
# Kubernetes


class K8s:
    docs: list[dict] = []
    lb_docs: list[dict] = []
    toml = ""


K8S = K8s()


def k8s_dir() -> Path:
    return ENV.source / "container" / "k8s"


def render(directory: Path) -> list[dict]:
    """The kustomization rendered by kubectl when it is installed, else read here: its resources,
    its configMapGenerator, its patches (strategic merge by kind and name)."""
    if shutil.which("kubectl"):
        p = run(["kubectl", "kustomize", str(directory)], timeout=60)
        if p.returncode != 0:
            raise CheckFailed(f"kubectl kustomize {directory}:\n{p.stderr}")
        return [d for d in yaml_docs(p.stdout, "kubectl kustomize's output") if d]
    k = yaml_file(directory / "kustomization.yaml")[0]
    docs: list[dict] = []
    for r in k.get("resources", []):
        path = directory / r
        docs += render(path) if path.is_dir() else yaml_file(path)
    for g in k.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in g["files"]}
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": g["name"]}, "data": data})
    for patch in k.get("patches", []):
        p = yaml_file(directory / patch["path"])[0]
        for d in docs:
            if d["kind"] == p["kind"] and d["metadata"]["name"] == p["metadata"]["name"]:
                d["spec"].update(p["spec"])
    if "namespace" in k:
        for d in docs:
            if d["kind"] != "Namespace":
                d["metadata"]["namespace"] = k["namespace"]
    return docs


def find(docs: list[dict], kind: str, name: str) -> dict:
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    raise CheckFailed(f"no {kind} {name} in {[(d.get('kind'), d['metadata']['name']) for d in docs]}")


def check_k8s_parse():
    for path in sorted(k8s_dir().rglob("*.yaml")):
        yaml_file(path)
    K8S.docs = render(k8s_dir() / "base")
    K8S.lb_docs = render(k8s_dir() / "loadbalancer")
    cm = find(K8S.docs, "ConfigMap", "horizon")
    K8S.toml = cm["data"]["horizon.toml"]
    path = ENV.tmp / "configmap-horizon.toml"
    path.write_text(K8S.toml)
    check_config(path)
    k = yaml_file(k8s_dir() / "base" / "kustomization.yaml")[0]
    if not all(g.get("options", {}).get("disableNameSuffixHash") for g in
               k.get("configMapGenerator", [])):
        raise CheckFailed("a hashed ConfigMap name would roll the Deployment on every change "
                          "instead of the in-place reload")
    return "(rendered with kubectl kustomize)" if shutil.which("kubectl") else \
        "(kubectl not installed: rendered by the test)"


def container_of(dep: dict) -> dict:
    containers = dep["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise CheckFailed(f"{len(containers)} containers")
    return containers[0]


def check_k8s_deployment():
    if not K8S.docs:
        check_k8s_parse()
    dep = find(K8S.docs, "Deployment", "horizon")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    c = container_of(dep)
    if spec.get("replicas", 1) < 2:
        raise CheckFailed(f"replicas {spec.get('replicas')} (want at least 2)")
    if not spec["selector"]["matchLabels"].items() <= \
            spec["template"]["metadata"]["labels"].items():
        raise CheckFailed("the selector does not match the pod labels")

    # Ports: the containerPorts are what horizon.toml listens on.
    dns_ports = {port_of(x) for x in toml_value(K8S.toml, "listen")}
    admin_port = port_of(toml_value(K8S.toml, "admin_listen"))
    named = {p["name"]: (p["containerPort"], p.get("protocol", "TCP")) for p in c["ports"]}
    want = {(p, proto) for p in dns_ports for proto in ("UDP", "TCP")} | {(admin_port, "TCP")}
    if set(named.values()) != want:
        raise CheckFailed(f"containerPorts {sorted(named.values())}, horizon.toml serves "
                          f"{sorted(want)}")

    # Probes: on the admin port, at paths horizond serves (checked live in k8s.configmap-live).
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c[probe]["httpGet"]
        port = named[get["port"]][0] if isinstance(get["port"], str) else get["port"]
        if get["path"] != path or port != admin_port:
            raise CheckFailed(f"{probe}: {get} (want {path} on {admin_port})")

    # Paths: --config inside the ConfigMap mount (a directory, no subPath), key = file name;
    # --state-dir an emptyDir mount.
    cmd = c.get("command", [])
    df = dockerfile()
    if not cmd:
        cmd = df.exec_form("runtime", "ENTRYPOINT") + c.get("args", [])
    config = cmd[cmd.index("--config") + 1]
    state = cmd[cmd.index("--state-dir") + 1]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    m = mounts.get(os.path.dirname(config))
    if m is None or "subPath" in m or not m.get("readOnly"):
        raise CheckFailed(f"{os.path.dirname(config)} must be a read-only mount without subPath "
                          f"(else the kubelet never updates the file): {c['volumeMounts']}")
    cmv = volumes[m["name"]].get("configMap", {})
    cm = find(K8S.docs, "ConfigMap", cmv.get("name", "?"))
    if os.path.basename(config) not in cm["data"]:
        raise CheckFailed(f"ConfigMap {cm['metadata']['name']} has no key "
                          f"{os.path.basename(config)}")
    if state not in mounts or "emptyDir" not in volumes[mounts[state]["name"]]:
        raise CheckFailed(f"--state-dir {state} must be an emptyDir mount")
    entry = df.exec_form("runtime", "ENTRYPOINT")
    if cmd[0] != entry[0] or config != entry[entry.index("--config") + 1] or \
            state != json.loads(df.get("runtime", "VOLUME")[0])[0]:
        raise CheckFailed(f"command {cmd} disagrees with the image ({entry})")

    # Security: non-root (the image's uid), read-only root, the capability the binary carries.
    sc = c["securityContext"]
    psc = pod.get("securityContext", {})
    uid = re.search(r"--uid (\d+)", " ".join(df.get("runtime", "RUN"))).group(1)
    if not psc.get("runAsNonRoot") or str(psc.get("runAsUser")) != uid:
        raise CheckFailed(f"pod securityContext {psc}: runAsNonRoot, runAsUser {uid}")
    if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not \
            False:
        raise CheckFailed(f"container securityContext {sc}")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"] or caps.get("add") != ["NET_BIND_SERVICE"]:
        raise CheckFailed(f"capabilities {caps}: drop ALL and add NET_BIND_SERVICE (the binary's "
                          "file capability must stay in the bounding set, or exec fails)")
    if min(dns_ports) < 1024:
        raise CheckFailed("without privilege escalation the file capability does not apply: "
                          "the pod must listen on a port >= 1024")
    req = c.get("resources", {}).get("requests", {})
    if not req.get("cpu") or not req.get("memory"):
        raise CheckFailed(f"resource requests: {req}")
    image = c["image"].split(":")[0]
    compose = yaml_file(ENV.source / "container" / "compose.yaml")[0]
    if image != compose["services"]["horizond"]["image"].split(":")[0]:
        raise CheckFailed(f"image {c['image']} is not the one compose builds")


def check_k8s_services():
    if not K8S.docs:
        check_k8s_parse()
    c = container_of(find(K8S.docs, "Deployment", "horizon"))
    named = {p["name"]: (p["containerPort"], p.get("protocol", "TCP")) for p in c["ports"]}
    labels = find(K8S.docs, "Deployment", "horizon")["spec"]["template"]["metadata"]["labels"]
    for docs, variant in ((K8S.docs, "base"), (K8S.lb_docs, "loadbalancer")):
        svc = find(docs, "Service", "horizon")
        if not svc["spec"]["selector"].items() <= labels.items():
            raise CheckFailed(f"{variant}: the Service selects no pod")
        seen = set()
        for p in svc["spec"]["ports"]:
            target = p["targetPort"]
            port, proto = named[target] if isinstance(target, str) else (target, p["protocol"])
            if proto != p.get("protocol", "TCP"):
                raise CheckFailed(f"{variant}: {p} targets a {proto} port")
            seen.add((p["port"], proto))
        if seen != {(53, "UDP"), (53, "TCP")}:
            raise CheckFailed(f"{variant}: the DNS Service serves {sorted(seen)}, want 53 UDP+TCP")
        admin = find(docs, "Service", "horizon-admin")
        if [named[p["targetPort"]][0] for p in admin["spec"]["ports"]] != \
                [port_of(toml_value(K8S.toml, "admin_listen"))]:
            raise CheckFailed(f"{variant}: horizon-admin does not target the admin port")
    base = find(K8S.docs, "Service", "horizon")["spec"]
    lb = find(K8S.lb_docs, "Service", "horizon")["spec"]
    if base.get("type", "ClusterIP") != "ClusterIP":
        raise CheckFailed(f"base Service type {base.get('type')}")
    if lb.get("type") != "LoadBalancer" or lb.get("externalTrafficPolicy") != "Local":
        raise CheckFailed(f"loadbalancer Service: {lb} (want LoadBalancer, Local: client "
                          "addresses decide the view)")


class ConfigMapVolume:
    """A directory laid out as the kubelet's atomic writer lays out a ConfigMap volume:
    ..<timestamp>/horizon.toml, ..data -> ..<timestamp>, horizon.toml -> ..data/horizon.toml.
    An update writes a new timestamp directory and renames a new ..data symlink over the old."""

    def __init__(self, root: Path, files: dict[str, str]):
        self.root = root
        self.n = 0
        root.mkdir(parents=True)
        self.update(files)
        for name in files:
            os.symlink(f"..data/{name}", root / name)

    def update(self, files: dict[str, str]):
        self.n += 1
        ts = f"..2026_11_30_12_00_{self.n:02d}.{os.getpid()}"
        (self.root / ts).mkdir()
        for name, text in files.items():
            (self.root / ts / name).write_text(text)
        old = os.readlink(self.root / "..data") if (self.root / "..data").exists() else None
        os.symlink(ts, self.root / "..data_tmp")
        os.rename(self.root / "..data_tmp", self.root / "..data")
        if old:
            shutil.rmtree(self.root / old)


def readyz(admin: str) -> dict:
    status, body, _ = http_get(f"http://{admin}/readyz")
    if status != 200:
        raise CheckFailed(f"/readyz {status}: {body}")
    return json.loads(body)


def wait_generation(admin: str, above: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = readyz(admin)
        if r["generation"] > above or not r["lastReload"]["ok"]:
            return r
        time.sleep(0.05)
    raise CheckFailed(f"no reload within {timeout} s")


def check_k8s_live():
    if not K8S.docs:
        check_k8s_parse()
    c = container_of(find(K8S.docs, "Deployment", "horizon"))
    dns_port, admin_port = free_port(), free_port(udp=False)
    admin = f"127.0.0.1:{admin_port}"
    text = with_loopback(K8S.toml, dns_port, admin_port)
    vol = ConfigMapVolume(ENV.tmp / "etc-horizon", {"horizon.toml": text})
    h = Horizond(ENV.horizond, vol.root / "horizon.toml", ENV.tmp / "k8s-state",
                 ENV.tmp / "k8s.log", admin)
    h.start()
    try:
        pid = h.proc.pid
        # The probes of the manifest, as the kubelet sends them.
        for probe in ("readinessProbe", "livenessProbe"):
            path = c[probe]["httpGet"]["path"]
            status, body, _ = http_get(f"http://{admin}{path}")
            if status != 200:
                raise CheckFailed(f"{probe} {path}: {status} {body}")
        if http_get(f"http://{admin}/metrics")[0] != 200:
            raise CheckFailed("/metrics does not answer (the pod's prometheus.io annotations)")

        # Read-only: mutating calls refused with EKS's and EC2's shapes; reads still served.
        ep = toml_value(K8S.toml, "endpoint")
        status, body, headers = http_get(
            f"http://{admin}/clusters/aews/update-config", data=json.dumps(
                {"resourcesVpcConfig": {"endpointPublicAccess": False}}).encode(),
            headers={"Content-Type": "application/json"})
        if status != 403 or headers.get("x-amzn-ErrorType") != "AccessDeniedException" or \
                "admin_read_only = true" not in json.loads(body)["message"]:
            raise CheckFailed(f"update-config when read-only: {status} {headers} {body}")
        p = run([ENV.horizonctl, "--endpoint-url", f"http://{admin}", "update-cluster-config",
                 "--name", "aews", "--resources-vpc-config", "endpointPrivateAccess=false"])
        want = ("An error occurred (AccessDeniedException) when calling the UpdateClusterConfig "
                "operation: not authorized to perform: eks:UpdateClusterConfig because horizond "
                "is read-only")
        if p.returncode != 254 or want not in p.stderr:
            raise CheckFailed(f"horizonctl update-cluster-config: {p.returncode}\n{p.stderr}")
        sg = json.loads(http_get(f"http://{admin}/clusters/aews")[1])[
            "cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
        status, body, _ = http_get(
            f"http://{admin}/", data=f"Action=AuthorizeSecurityGroupIngress&GroupId={sg}"
            "&IpProtocol=tcp&FromPort=443&ToPort=443&CidrIp=10.0.0.0/8".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 403 or "<Code>UnauthorizedOperation</Code>" not in body or \
                "ec2:AuthorizeSecurityGroupIngress" not in body:
            raise CheckFailed(f"EC2 authorize when read-only: {status} {body}")
        status, body, _ = http_get(
            f"http://{admin}/", data=f"Action=DescribeSecurityGroupRules&GroupId={sg}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise CheckFailed(f"EC2 describe when read-only: {status} {body}")
        if http_get(f"http://{admin}/clusters/aews/security-group/authorize-ingress",
                    data=b'{"IpProtocol": "tcp", "CidrIp": "10.0.0.0/8"}')[0] != 403:
            raise CheckFailed("security group authorize by cluster was not refused")

        # A ConfigMap update: the kubelet's symlink swap; the answers flip with no restart.
        public = sorted(toml_value(K8S.toml, "public_ips"))
        private = sorted(toml_value(K8S.toml, "private_ips"))
        if dig_short("127.0.0.1", dns_port, ep) != public:
            raise CheckFailed("an outside source does not get the public IPs")
        gen = readyz(admin)["generation"]
        vol.update({"horizon.toml": text.replace('access_mode = "public+private"',
                                                 'access_mode = "private"')})
        r = wait_generation(admin, gen)
        if not r["lastReload"]["ok"]:
            raise CheckFailed(f"the updated ConfigMap did not load: {r}")
        for tcp in (False, True):
            got = dig_short("127.0.0.1", dns_port, ep, tcp=tcp)
            if got != private:
                raise CheckFailed(f"after the update ({'tcp' if tcp else 'udp'}): {got}, want "
                                  f"{private}")
        if h.proc.pid != pid or h.proc.poll() is not None:
            raise CheckFailed("horizond restarted")

        # A broken update: the replica keeps serving the last good file and stays ready.
        gen = r["generation"]
        vol.update({"horizon.toml": text + "\n[server\n"})
        deadline = time.monotonic() + 10
        while readyz(admin)["lastReload"]["ok"]:
            if time.monotonic() > deadline:
                raise CheckFailed("the broken ConfigMap was not noticed within 10 s")
            time.sleep(0.05)
        r = readyz(admin)
        if r["generation"] != gen or dig_short("127.0.0.1", dns_port, ep) != private:
            raise CheckFailed(f"a broken update changed what is served: {r}")

        # Read-only is followed on reload: turned off, the same call goes through.
        vol.update({"horizon.toml": text.replace("admin_read_only = true",
                                                 "admin_read_only = false")})
        wait_generation(admin, -1)
        deadline = time.monotonic() + 10
        while True:
            status, body, _ = http_get(
                f"http://{admin}/clusters/aews/update-config",
                data=json.dumps({"resourcesVpcConfig": {"endpointPublicAccess": False}}).encode())
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if status != 200:
            raise CheckFailed(f"with admin_read_only = false the update was refused: {status} "
                              f"{body}")
    finally:
        code = h.stop()
    if code != 0:
        raise CheckFailed(f"horizond exited {code} on SIGTERM")


def main() -> int:
    a = parse_args(__doc__, "horizond", "horizonctl", "source", "data", tools=("dig",))
    ENV.horizond, ENV.horizonctl = a.horizond, a.horizonctl
    ENV.source, ENV.data = Path(a.source), Path(a.data)
    ENV.tmp = Path(tempfile.mkdtemp(prefix="horizon-container-"))
    checks = Checks()
    checks.add_all([("image.runtime-packages-match-ldd", check_runtime_packages),
                    ("image.build-stage", check_build_stage),
                    ("image.runtime-stage", check_runtime_stage),
                    ("image.healthcheck-runs", check_healthcheck_runs),
                    ("compose.kind-network", check_compose),
                    ("k8s.manifests-parse", check_k8s_parse),
                    ("k8s.deployment-matches-horizond", check_k8s_deployment),
                    ("k8s.services", check_k8s_services),
                    ("k8s.configmap-live", check_k8s_live)])
    logs = [ENV.tmp / "image.log", ENV.tmp / "k8s.log"]
    return run_script(checks, a, tmp=ENV.tmp, time_budget=TIME_BUDGET,
                      log_excerpt=lambda: "\n".join(framed_log_tail(p) for p in logs if p.exists()))


if __name__ == "__main__":
    sys.exit(main())
