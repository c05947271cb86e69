#!/usr/bin/python3
"""Checks that deploy/ agrees with itself and with the binaries.

Run by //deploy:deploy_check_test (deploy_check_test.sh) with Debian's /usr/bin/python3 and its
python3-yaml. It parses every YAML file under deploy/k8s and deploy/prometheus (multi-document),
the Dockerfiles, and proto/coordinator.proto, and runs the real binaries (Bazel data deps) to
check flags. Each top-level kustomization (deploy/k8s: CPU, deploy/k8s/gpu: GPU) is checked as
the set of objects it deploys. After the real check passes, --self-test breaks the parsed
manifests in memory one way at a time and requires the check to notice each break, so the
check is known to be able to fail.

usage: check_deploy.py --root REPO --bin NAME=PATH ... [--self-test]
"""

import argparse
import copy
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# Values the downward API would give, for running the binaries with the manifests' args.
FIELD_REF_SAMPLES = {
    "status.podIP": "10.0.0.7",
    "metadata.name": "murmur-worker-0",
    "metadata.namespace": "murmur",
    "spec.nodeName": "node-1",
}
# In debian:12-slim already (apt itself needs them), so no Dockerfile lists them.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def load_yaml_documents(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def jobspec_fields(proto_path):
    """Field names (and their JSON names) of `message JobSpec` in coordinator.proto."""
    with open(proto_path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^message JobSpec \{(.*?)^\}", text, re.S | re.M)
    if not match:
        raise SystemExit(f"{proto_path}: no `message JobSpec`")
    names = set()
    for field in re.finditer(r"^\s*(?:repeated\s+|optional\s+)?[\w.]+\s+(\w+)\s*=\s*\d+\s*;",
                             match.group(1), re.M):
        name = field.group(1)
        names.add(name)
        names.add(re.sub(r"_(\w)", lambda m: m.group(1).upper(), name))  # JSON name
    if not names:
        raise SystemExit(f"{proto_path}: JobSpec has no fields?")
    return names


def parse_args_list(args):
    """--name=value / --name value / --flag -> {name: [values]} (values in order)."""
    flags = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                if i + 1 < len(args) and not args[i + 1].startswith("--"):
                    value = args[i + 1]
                    i += 1
                else:
                    value = "true"
            flags.setdefault(name, []).append(value)
        i += 1
    return flags


def flag(flags, name):
    values = flags.get(name)
    return values[-1] if values else None


class Binaries:
    """The real binaries: their --help flag lists, and whether an argument list parses."""

    def __init__(self, paths):
        self.paths = paths
        self._flags = {}
        self._parsed = {}

    def flags(self, name):
        if name not in self._flags:
            out = subprocess.run([self.paths[name], "--help"], capture_output=True, text=True,
                                 timeout=120)
            if out.returncode != 0:
                raise SystemExit(f"{name} --help exited {out.returncode}: {out.stderr}")
            self._flags[name] = set(re.findall(r"^\s+--([\w-]+)", out.stdout, re.M))
        return self._flags[name]

    def parse_error(self, name, args):
        """None when `name args --help` parses (the flag parser rejects unknown flags, missing
        values and malformed numbers before it looks at --help), else the error text."""
        key = (name, tuple(args))
        if key not in self._parsed:
            out = subprocess.run([self.paths[name]] + list(args) + ["--help"],
                                 capture_output=True, text=True, timeout=120)
            self._parsed[key] = None if out.returncode == 0 else (
                (out.stderr or out.stdout).strip().splitlines() or ["exit %d" % out.returncode])[0]
        return self._parsed[key]


class Dockerfile:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        # Join continuation lines for instruction parsing.
        joined = re.sub(r"\\\n", " ", self.text)
        self.instructions = [line.strip() for line in joined.splitlines()
                             if line.strip() and not line.strip().startswith("#")]
        tag = re.search(r"docker build -f (\S+) -t (\S+)", self.text)
        self.image = tag.group(2) if tag else None
        self.build_file_arg = tag.group(1) if tag else None
        entry = [i for i in self.instructions if i.startswith("ENTRYPOINT")]
        self.entrypoint = json.loads(entry[-1][len("ENTRYPOINT"):]) if entry else None
        self.froms = [i.split()[1:] for i in self.instructions if i.startswith("FROM ")]
        self.expose = {int(p) for i in self.instructions if i.startswith("EXPOSE ")
                       for p in i.split()[1:]}
        stages = re.split(r"^FROM ", "\n".join(self.instructions), flags=re.M)
        self.final_stage = stages[-1] if stages else ""
        self.targets = []
        for build in re.findall(r"bazel build ([^&;]+)", "\n".join(self.instructions)):
            self.targets += [t for t in build.split() if t.startswith("//")]

    def runtime_packages(self):
        packages = set()
        for install in re.findall(r"apt-get install ([^&;]+)", self.final_stage):
            packages |= {w for w in install.split() if not w.startswith("-")
                         and w not in ("install",)}
        return packages


class Overlay:
    """The objects one top-level kustomization deploys."""

    def __init__(self, name, namespace, objects, images):
        self.name = name
        self.namespace = namespace
        self.objects = objects  # [(file, doc)]
        self.images = images

    def of_kind(self, kind):
        return [(f, d) for f, d in self.objects if d.get("kind") == kind]

    def find(self, kind, name):
        for f, d in self.objects:
            if d.get("kind") == kind and d["metadata"]["name"] == name:
                return d
        return None


class Checker:
    def __init__(self, root, binaries):
        self.root = root
        self.binaries = binaries
        self.deploy = os.path.join(root, "deploy")
        self.k8s_dir = os.path.join(self.deploy, "k8s")
        self.jobspec = jobspec_fields(os.path.join(root, "proto", "coordinator.proto"))
        self.files = {}  # relative path -> [docs]
        for dirpath, _, names in os.walk(self.k8s_dir):
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")):
                    path = os.path.join(dirpath, name)
                    self.files[os.path.relpath(path, self.k8s_dir)] = load_yaml_documents(path)
        self.prometheus = load_yaml_documents(
            os.path.join(self.deploy, "prometheus", "prometheus.yml"))
        docker_dir = os.path.join(self.deploy, "docker")
        self.dockerfiles = {}
        self.dockerignores = {}
        for name in sorted(os.listdir(docker_dir)):
            path = os.path.join(docker_dir, name)
            if name.startswith("Dockerfile.") and name.endswith(".dockerignore"):
                with open(path, encoding="utf-8") as f:
                    self.dockerignores[name] = f.read()
            elif name.startswith("Dockerfile."):
                self.dockerfiles[name] = Dockerfile(path)
        self.errors = []

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")

    # ------------------------------------------------------------------ structure

    def kustomization_dirs(self):
        return sorted(os.path.dirname(rel) for rel, docs in self.files.items()
                      if os.path.basename(rel) == "kustomization.yaml")

    def resolve_kustomization(self, directory, seen=None):
        """Files (relative to deploy/k8s) a kustomization directory deploys, recursively."""
        seen = seen if seen is not None else set()
        rel = os.path.join(directory, "kustomization.yaml") if directory else "kustomization.yaml"
        docs = self.files.get(os.path.normpath(rel))
        if not docs:
            self.fail(rel, "missing")
            return [], {}
        k = docs[0]
        files, images = [], {i["name"]: i for i in k.get("images", [])}
        for resource in k.get("resources", []):
            target = os.path.normpath(os.path.join(directory, resource))
            if target in self.files:
                files.append(target)
            elif os.path.normpath(os.path.join(target, "kustomization.yaml")) in self.files:
                if target in seen:
                    self.fail(rel, f"resource {resource} is a cycle")
                    continue
                seen.add(target)
                sub_files, sub_images = self.resolve_kustomization(target, seen)
                files += sub_files
                images = {**sub_images, **images}
            else:
                self.fail(rel, f"resource {resource} does not exist")
        return files, images

    def overlays(self):
        dirs = self.kustomization_dirs()
        referenced = set()
        for d in dirs:
            k = self.files[os.path.normpath(os.path.join(d, "kustomization.yaml"))][0]
            for resource in k.get("resources", []):
                referenced.add(os.path.normpath(os.path.join(d, resource)))
        result = []
        used_files = set()
        for d in dirs:
            if os.path.normpath(d or ".") in referenced:
                continue
            k = self.files[os.path.normpath(os.path.join(d, "kustomization.yaml"))][0]
            files, images = self.resolve_kustomization(d)
            used_files |= set(files)
            objects = [(f, copy.deepcopy(doc)) for f in files for doc in self.files[f]]
            result.append(Overlay(d or ".", k.get("namespace"), objects, images))
        for rel in self.files:
            if os.path.basename(rel) != "kustomization.yaml" and rel not in used_files:
                self.fail(rel, "is not deployed by any kustomization")
        return result

    def check_objects(self, overlay):
        seen = {}
        for f, d in overlay.objects:
            for key in ("apiVersion", "kind", "metadata"):
                if key not in d:
                    self.fail(f, f"a document has no {key}")
                    return
            name = d["metadata"].get("name")
            ident = (d["kind"], name)
            if ident in seen:
                self.fail(f, f"{d['kind']} {name} is also defined in {seen[ident]}")
            seen[ident] = f
            if d["kind"] != "Namespace" and d["metadata"].get("namespace") not in (
                    None, overlay.namespace):
                self.fail(f, f"{d['kind']} {name} names namespace "
                             f"{d['metadata']['namespace']}, the kustomization {overlay.namespace}")
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") != "murmur":
                self.fail(f, f"{d['kind']} {name} lacks label app.kubernetes.io/name: murmur")
        namespaces = [d["metadata"]["name"] for _, d in overlay.of_kind("Namespace")]
        if namespaces != [overlay.namespace]:
            self.fail(overlay.name, f"Namespace objects {namespaces}, kustomization namespace "
                                    f"{overlay.namespace}")
        used_images = {c["image"] for _, w in self.workloads(overlay) for c in self.containers(w)}
        for image in overlay.images:
            if image not in used_images:
                self.fail(overlay.name, f"kustomization images: {image} is used by no container")
        kinds = {}
        for _, w in self.workloads(overlay):
            for c in self.containers(w):
                kinds.setdefault(self.binary_of(c), []).append(w["metadata"]["name"])
        for binary in ("murmur-coordinator", "murmur-worker", "murmur-serve"):
            if len(kinds.get(binary, [])) != 1:
                self.fail(overlay.name, f"expected one workload running {binary}, found "
                                        f"{kinds.get(binary, [])}")

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def workloads(overlay):
        return [(f, d) for f, d in overlay.objects if d["kind"] in WORKLOAD_KINDS]

    @staticmethod
    def containers(workload):
        return workload["spec"]["template"]["spec"].get("containers", [])

    @staticmethod
    def pod_labels(workload):
        return workload["spec"]["template"]["metadata"].get("labels", {})

    def binary_of(self, container):
        image = container["image"].split(":")[0].split("/")[-1]
        for dockerfile in self.dockerfiles.values():
            if dockerfile.image == image and dockerfile.entrypoint:
                return os.path.basename(dockerfile.entrypoint[0])
        return None

    @staticmethod
    def expand(value, container):
        """Kubernetes' $(VAR) expansion of args from the container's env."""
        env = {}
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "fieldRef" in e.get("valueFrom", {}):
                env[e["name"]] = FIELD_REF_SAMPLES.get(e["valueFrom"]["fieldRef"]["fieldPath"],
                                                       "x")
        missing = []

        def sub(m):
            if m.group(1) in env:
                return env[m.group(1)]
            missing.append(m.group(1))
            return m.group(0)

        return re.sub(r"\$\((\w+)\)", sub, value), missing

    @staticmethod
    def resolve_port(container, port):
        """A probe's or Service's (named or numeric) port -> the containerPort number, or None."""
        for p in container.get("ports", []):
            if port == p.get("name") or port == p.get("containerPort"):
                return p["containerPort"]
        return None

    @staticmethod
    def selects(selector, labels):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    def args_of(self, where, container):
        expanded = []
        for arg in container.get("args", []):
            value, missing = self.expand(str(arg), container)
            for name in missing:
                self.fail(where, f"arg {arg!r} uses $({name}), which no env entry defines")
            expanded.append(value)
        return expanded

    # ------------------------------------------------------------------ cross-object checks

    def check_workloads(self, overlay):
        for f, w in self.workloads(overlay):
            where = f"{f}: {w['kind']} {w['metadata']['name']}"
            match = w["spec"]["selector"].get("matchLabels", {})
            if not self.selects(match, self.pod_labels(w)):
                self.fail(where, f"selector {match} does not match its pod labels "
                                 f"{self.pod_labels(w)}")
            for c in self.containers(w):
                if self.binary_of(c) is None:
                    self.fail(where, f"image {c['image']} is built by no deploy/docker/Dockerfile.*")
                for probe_kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                    probe = c.get(probe_kind)
                    if not probe:
                        continue
                    for handler in ("grpc", "tcpSocket", "httpGet"):
                        if handler in probe:
                            port = probe[handler]["port"]
                            if handler == "grpc" and not isinstance(port, int):
                                self.fail(where, f"{probe_kind}: grpc probes take a port number")
                            if self.resolve_port(c, port) is None:
                                self.fail(where, f"{probe_kind} port {port} is no containerPort")
                            if handler == "grpc" and self.resolve_port(c, port) != self.resolve_port(c, "grpc"):
                                self.fail(where, f"{probe_kind}: grpc probe on {port}, the gRPC "
                                                 f"port is {self.resolve_port(c, 'grpc')}")
                args = parse_args_list(self.args_of(where, c))
                for flag_name, port_name in (("port", "grpc"), ("metrics-port", "metrics")):
                    value = flag(args, flag_name)
                    declared = self.resolve_port(c, port_name)
                    if (value is None) != (declared is None) or (
                            value is not None and int(value) != declared):
                        self.fail(where, f"--{flag_name}={value} but containerPort "
                                         f"'{port_name}' is {declared}")
                threads = flag(args, "threads")
                cpu = c.get("resources", {}).get("requests", {}).get("cpu")
                if threads is not None and cpu is not None:
                    cores = float(cpu[:-1]) / 1000 if str(cpu).endswith("m") else float(cpu)
                    if int(threads) > max(1, cores):
                        self.fail(where, f"--threads={threads} exceeds the CPU request {cpu}")
            if w["kind"] == "StatefulSet":
                service = overlay.find("Service", w["spec"].get("serviceName"))
                if service is None:
                    self.fail(where, f"serviceName {w['spec'].get('serviceName')} is no Service")
                elif service["spec"].get("clusterIP") != "None":
                    self.fail(where, f"serviceName {service['metadata']['name']} is not headless")
                elif not self.selects(service["spec"].get("selector"), self.pod_labels(w)):
                    self.fail(where, f"Service {service['metadata']['name']} does not select its pods")

    def check_services(self, overlay):
        for f, s in overlay.of_kind("Service"):
            where = f"{f}: Service {s['metadata']['name']}"
            selector = s["spec"].get("selector")
            selected = [w for _, w in self.workloads(overlay)
                        if self.selects(selector, self.pod_labels(w))]
            if not selected:
                self.fail(where, f"selector {selector} matches no pod template")
            for port in s["spec"].get("ports", []):
                target = port.get("targetPort", port["port"])
                for w in selected:
                    if not any(self.resolve_port(c, target) for c in self.containers(w)):
                        self.fail(where, f"port {port.get('name')}: targetPort {target} is no "
                                         f"containerPort of {w['metadata']['name']}")

    def service_target(self, overlay, where, address, binary):
        """host:port must be a Service (same namespace) whose port reaches `binary`'s pods."""
        m = re.fullmatch(r"(?:dns:///)?([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc(?:\.[a-z.]+)?)?)?:(\d+)",
                         address or "")
        if not m:
            self.fail(where, f"{address!r} is not SERVICE[.NAMESPACE[.svc...]]:PORT")
            return
        name, namespace, port = m.group(1), m.group(2), int(m.group(3))
        if namespace not in (None, overlay.namespace):
            self.fail(where, f"{address}: namespace {namespace}, deployed to {overlay.namespace}")
        service = overlay.find("Service", name)
        if service is None:
            self.fail(where, f"{address}: no Service {name}")
            return
        ports = [p for p in service["spec"].get("ports", []) if p["port"] == port]
        if not ports:
            self.fail(where, f"{address}: Service {name} has no port {port}")
            return
        target = ports[0].get("targetPort", port)
        reached = [w for _, w in self.workloads(overlay)
                   if self.selects(service["spec"].get("selector"), self.pod_labels(w))]
        ok = [w for w in reached for c in self.containers(w)
              if self.binary_of(c) == binary and self.resolve_port(c, target) is not None
              and self.resolve_port(c, target) == self.resolve_port(c, "grpc")]
        if not ok:
            self.fail(where, f"{address}: Service {name} port {port} reaches no {binary} gRPC port")

    def container_running(self, overlay, binary):
        return [(f, w, c) for f, w in self.workloads(overlay) for c in self.containers(w)
                if self.binary_of(c) == binary]

    def check_addresses(self, overlay):
        for f, w, c in self.container_running(overlay, "murmur-worker"):
            where = f"{f}: {w['metadata']['name']}"
            args = parse_args_list(self.args_of(where, c))
            self.service_target(overlay, where + " --coordinator", flag(args, "coordinator"),
                                "murmur-coordinator")
            host = next((a for a in c.get("args", []) if str(a).startswith("--host")), "")
            if "$(" not in host:
                self.fail(where, "--host must come from the downward API (status.podIP): Gloo "
                                 "peers connect to it")
            for e in c.get("env", []):
                if f"$({e['name']})" in host:
                    path = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                    if path != "status.podIP":
                        self.fail(where, f"--host uses {e['name']} = {path}, not status.podIP")
        for f, w, c in self.container_running(overlay, "murmur-coordinator"):
            args = parse_args_list(self.args_of(f, c))
            for target in args.get("publish-to", []):
                self.service_target(overlay, f"{f}: --publish-to", target, "murmur-serve")
                service = overlay.find("Service", target.split(":")[0].split(".")[0])
                if service and not service["spec"].get("publishNotReadyAddresses"):
                    self.fail(f, f"--publish-to {target}: the Service must publish not-ready "
                                 "addresses (a replica without a model is not ready)")

    def check_hpa(self, overlay):
        for f, h in overlay.of_kind("HorizontalPodAutoscaler"):
            where = f"{f}: HPA {h['metadata']['name']}"
            ref = h["spec"]["scaleTargetRef"]
            target = overlay.find(ref["kind"], ref["name"])
            if target is None or target.get("apiVersion") != ref.get("apiVersion"):
                self.fail(where, f"scaleTargetRef {ref} is no object of this cluster")
                continue
            if not any(self.binary_of(c) == "murmur-serve" for c in self.containers(target)):
                self.fail(where, f"scales {ref['name']}, which does not run murmur-serve")
            if h["spec"].get("minReplicas", 1) > h["spec"]["maxReplicas"]:
                self.fail(where, "minReplicas > maxReplicas")
            for metric in h["spec"].get("metrics", []):
                name = metric.get("resource", {}).get("name")
                if metric["type"] == "Resource" and not all(
                        name in c.get("resources", {}).get("requests", {})
                        for c in self.containers(target)):
                    self.fail(where, f"a {name} utilization target needs {name} requests on "
                                     f"every container of {ref['name']}")

    def mount_of(self, workload, container, path):
        """(volume source, path inside it, readOnly) of an absolute path, or None."""
        best = None
        for m in container.get("volumeMounts", []):
            mount = m["mountPath"].rstrip("/")
            if path == mount or path.startswith(mount + "/"):
                if best is None or len(mount) > len(best["mountPath"].rstrip("/")):
                    best = m
        if best is None:
            return None
        volume = next((v for v in workload["spec"]["template"]["spec"].get("volumes", [])
                       if v["name"] == best["name"]), None)
        if volume is None:
            return ("undefined volume " + best["name"], "", False)
        if "persistentVolumeClaim" in volume:
            source = "pvc/" + volume["persistentVolumeClaim"]["claimName"]
        elif "configMap" in volume:
            source = "configmap/" + volume["configMap"]["name"]
        elif "secret" in volume:
            source = "secret/" + volume["secret"]["secretName"]
        else:
            source = f"{next(k for k in volume if k != 'name')}/{workload['metadata']['name']}"
        inner = os.path.normpath("/".join(
            p for p in (best.get("subPath", ""), path[len(best["mountPath"].rstrip("/")):].strip("/"))
            if p))
        return (source, inner, bool(best.get("readOnly")))

    def check_job_spec(self, overlay):
        coordinators = self.container_running(overlay, "murmur-coordinator")
        workers = self.container_running(overlay, "murmur-worker")
        if not coordinators:
            return
        f, cw, cc = coordinators[0]
        args = parse_args_list(self.args_of(f, cc))
        spec_path = flag(args, "spec") or ""
        located = self.mount_of(cw, cc, spec_path)
        if located is None or not located[0].startswith("configmap/"):
            self.fail(f, f"--spec {spec_path} is not on a ConfigMap volume")
            return
        configmap = overlay.find("ConfigMap", located[0].split("/", 1)[1])
        if configmap is None or located[1] not in configmap.get("data", {}):
            self.fail(f, f"--spec {spec_path}: the ConfigMap has no key {located[1]}")
            return
        try:
            spec = json.loads(configmap["data"][located[1]])
        except json.JSONDecodeError as e:
            self.fail(f, f"ConfigMap {configmap['metadata']['name']} {located[1]}: invalid JSON: {e}")
            return
        if not isinstance(spec, dict):
            self.fail(f, "job.json is not a JSON object")
            return
        for key in sorted(set(spec) - self.jobspec):
            self.fail(f, f"job.json key {key!r} is no JobSpec field of proto/coordinator.proto")
        for key in ("corpus_path", "vocab_path"):
            if key not in spec:
                self.fail(f, f"job.json lacks {key} (required)")
        journal = flag(args, "journal-dir") or ""
        checkpoint_dir = spec.get("checkpoint_dir", journal.rstrip("/") + "/checkpoints")
        paths = {k: spec[k] for k in ("corpus_path", "vocab_path", "init_dir") if spec.get(k)}
        paths["checkpoint_dir"] = checkpoint_dir
        journal_mount = self.mount_of(cw, cc, journal)
        if journal_mount is None or not journal_mount[0].startswith("pvc/") or journal_mount[2]:
            self.fail(f, f"--journal-dir {journal} is not on a writable PersistentVolumeClaim")
        for key, path in paths.items():
            where_coord = self.mount_of(cw, cc, path)
            if where_coord is None:
                self.fail(f, f"job.json {key} {path} is on no volume of the coordinator")
                continue
            for wf, ww, wc in workers:
                where_worker = self.mount_of(ww, wc, path)
                if where_worker is None or where_worker[:2] != where_coord[:2]:
                    self.fail(wf, f"job.json {key} {path}: the worker sees "
                                  f"{where_worker and where_worker[:2]}, the coordinator "
                                  f"{where_coord[:2]}: they must be the same files")
                elif key == "checkpoint_dir" and where_worker[2]:
                    self.fail(wf, f"checkpoint_dir {path} is read-only for the worker (rank 0 "
                                  "writes checkpoints)")
        # Claims mounted by several pods must be ReadWriteMany.
        users = {}
        for wf, w in self.workloads(overlay):
            for v in w["spec"]["template"]["spec"].get("volumes", []):
                if "persistentVolumeClaim" in v:
                    claim = v["persistentVolumeClaim"]["claimName"]
                    users.setdefault(claim, []).append(w)
        for claim, ws in users.items():
            pvc = overlay.find("PersistentVolumeClaim", claim)
            if pvc is None:
                self.fail(overlay.name, f"claim {claim} is not defined")
                continue
            many = len(ws) > 1 or any(w["spec"].get("replicas", 1) > 1 for w in ws) or any(
                w["kind"] == "StatefulSet" for w in ws)
            if many and "ReadWriteMany" not in pvc["spec"]["accessModes"]:
                self.fail(overlay.name, f"claim {claim} is mounted by several pods but is not "
                                        "ReadWriteMany")

    def check_serving(self, overlay):
        for f, w, c in self.container_running(overlay, "murmur-serve"):
            args = parse_args_list(self.args_of(f, c))
            grace = w["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            if int(flag(args, "shutdown-grace-s") or 30) >= grace:
                self.fail(f, f"--shutdown-grace-s must be below terminationGracePeriodSeconds "
                             f"({grace}): the kubelet kills the pod then")
        tokens = {}
        for binary, token_flag in (("murmur-coordinator", "serving-token-file"),
                                   ("murmur-serve", "auth-token-file")):
            for f, w, c in self.container_running(overlay, binary):
                path = flag(parse_args_list(self.args_of(f, c)), token_flag)
                if path:
                    tokens[binary] = (f, self.mount_of(w, c, path))
        if len(tokens) == 2:
            (f1, a), (f2, b) = tokens.values()
            if a is None or b is None or a[:2] != b[:2] or not a[0].startswith("secret/"):
                self.fail(f1, f"the coordinator's --serving-token-file ({a}) and serving's "
                              f"--auth-token-file ({b}) must be the same Secret key")
        elif len(tokens) == 1:
            self.fail(overlay.name, f"only {list(tokens)} has a token file: publishing needs both")

    def check_flags(self, overlay):
        for f, w in self.workloads(overlay):
            for c in self.containers(w):
                binary = self.binary_of(c)
                if binary not in self.binaries.paths:
                    continue
                args = self.args_of(f, c)
                error = self.binaries.parse_error(binary, args)
                if error:
                    self.fail(f, f"{w['metadata']['name']}: {binary} rejects its args: {error}")

    def check_prometheus(self, overlay):
        config = self.prometheus[0]
        jobs = config.get("scrape_configs", [])
        components_scraped = {}
        for job in jobs:
            where = f"prometheus.yml job {job['job_name']}"
            namespaces = [n for sd in job.get("kubernetes_sd_configs", [])
                          for n in sd.get("namespaces", {}).get("names", [])]
            if overlay.namespace not in namespaces:
                self.fail(where, f"does not discover namespace {overlay.namespace}")
            component = None
            for rule in job.get("relabel_configs", []):
                if rule.get("action") == "keep" and rule.get("source_labels") == [
                        "__meta_kubernetes_pod_label_app_kubernetes_io_component"]:
                    component = rule["regex"]
            if component is None:
                self.fail(where, "keeps no app.kubernetes.io/component")
                continue
            components_scraped[component] = job["job_name"]
            pods = [w for _, w in self.workloads(overlay)
                    if self.pod_labels(w).get("app.kubernetes.io/component") == component]
            if not pods:
                self.fail(where, f"no pod template has component {component}")
            for w in pods:
                annotations = w["spec"]["template"]["metadata"].get("annotations", {})
                for c in self.containers(w):
                    binary = self.binary_of(c)
                    has_flag = binary in self.binaries.paths and \
                        "metrics-port" in self.binaries.flags(binary)
                    if annotations.get("prometheus.io/scrape") != "true":
                        if has_flag:
                            self.fail(where, f"{w['metadata']['name']}: {binary} has "
                                             "--metrics-port now: pass it and set "
                                             "prometheus.io/scrape: \"true\"")
                        continue
                    port = annotations.get("prometheus.io/port")
                    declared = self.resolve_port(c, "metrics")
                    if port is None or declared is None or int(port) != declared:
                        self.fail(where, f"{w['metadata']['name']}: prometheus.io/port {port}, "
                                         f"metrics containerPort {declared}")
                    if annotations.get("prometheus.io/path") != "/metrics":
                        self.fail(where, f"{w['metadata']['name']}: path must be /metrics")
        for f, w in self.workloads(overlay):
            if any(self.resolve_port(c, "metrics") for c in self.containers(w)):
                component = self.pod_labels(w).get("app.kubernetes.io/component")
                if component not in components_scraped:
                    self.fail(f, f"{w['metadata']['name']} serves metrics but no scrape job "
                                 f"keeps component {component}")

    def check_promtool(self):
        """promtool check config, when Debian's prometheus package is installed. Debian builds
        Prometheus without Kubernetes service discovery, so its promtool rejects
        kubernetes_sd_configs: the check swaps them for a static target and validates the rest
        (relabel regexes, field names, durations)."""
        promtool = "/usr/bin/promtool"
        if not os.path.exists(promtool):
            print("note: /usr/bin/promtool absent (Debian package prometheus): promtool check skipped")
            return
        config = copy.deepcopy(self.prometheus[0])
        for job in config.get("scrape_configs", []):
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": ["127.0.0.1:1"]}]
        tmp = os.environ.get("TEST_TMPDIR", "/tmp")
        path = os.path.join(tmp, "prometheus-static.yml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f)
        out = subprocess.run([promtool, "check", "config", path], capture_output=True, text=True)
        if out.returncode != 0:
            self.fail("prometheus.yml", "promtool: " + (out.stdout + out.stderr).strip())

    # ------------------------------------------------------------------ Dockerfiles

    def check_dockerfiles(self, overlays, check_packages=True):
        ignores = set(self.dockerignores.values())
        if len(ignores) != 1:
            self.fail("deploy/docker", "the Dockerfile.*.dockerignore files differ")
        for text in ignores:
            for pattern in (".git", "bazel-*"):
                if pattern not in text.split():
                    self.fail("deploy/docker", f"dockerignore lacks {pattern}")
        for name, d in self.dockerfiles.items():
            if name + ".dockerignore" not in self.dockerignores:
                self.fail(name, "has no .dockerignore beside it")
            if d.build_file_arg != f"deploy/docker/{name}":
                self.fail(name, f"header says docker build -f {d.build_file_arg}")
            if not d.entrypoint:
                self.fail(name, "no ENTRYPOINT")
                continue
            binary = os.path.basename(d.entrypoint[0])
            if not any(t.endswith(":" + binary) for t in d.targets):
                self.fail(name, f"ENTRYPOINT {binary} is not among the bazel targets {d.targets}")
            if "deploy/setup.sh" not in d.text or "RUN deploy/setup.sh" not in d.instructions:
                self.fail(name, "the build stage must install the packages with deploy/setup.sh")
            if "gpu" in name:
                if "--config=cuda" not in d.text or "NOT EXERCISED IN CI" not in d.text:
                    self.fail(name, "must build with --config=cuda and say it is not exercised in CI")
                continue
            if d.froms[0][0] != "debian:12" or d.froms[-1][0] != "debian:12-slim":
                self.fail(name, f"FROM {d.froms}: expected debian:12 (build), debian:12-slim")
            ports = {self.resolve_port(c, p["name"]) for o in overlays
                     for _, w in self.workloads(o) for c in self.containers(w)
                     if self.binary_of(c) == binary for p in c.get("ports", [])}
            if ports != d.expose:
                self.fail(name, f"EXPOSE {sorted(d.expose)}, the manifests' ports {sorted(ports)}")
            if check_packages:
                for target in d.targets:
                    package, program = target[2:].split(":")
                    if program in self.binaries.paths:
                        self.check_runtime_packages(name, d, program)

    def check_runtime_packages(self, name, dockerfile, program):
        """Every shared library `program` loads must come from a package the final stage
        installs (or one of their dependencies, or the base image)."""
        try:
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", subprocess.run(
                ["readelf", "-d", self.binaries.paths[program]], capture_output=True,
                text=True, check=True).stdout)
            ldconfig = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True,
                                      check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            self.fail(name, f"cannot inspect {program}: {e}")
            return
        installed = dockerfile.runtime_packages()
        closure = set(installed) | BASE_IMAGE_PACKAGES
        depends = subprocess.run(
            ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
             "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + sorted(installed),
            capture_output=True, text=True)
        closure |= set(re.findall(r"^\s*(?:\|?Depends|PreDepends): <?([\w.+-]+)>?",
                                  depends.stdout, re.M))
        closure |= {line.strip() for line in depends.stdout.splitlines()
                    if line and not line.startswith(" ")}
        for lib in needed:
            m = re.search(r"^\s+" + re.escape(lib) + r" \(.*?x86-64.*?\) => (\S+)", ldconfig, re.M)
            if not m:
                self.fail(name, f"{program} needs {lib}, which ldconfig does not know")
                continue
            owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(m.group(1))],
                                   capture_output=True, text=True)
            if owner.returncode != 0:
                owner = subprocess.run(["dpkg-query", "-S", m.group(1)], capture_output=True,
                                       text=True)
            package = owner.stdout.split(":")[0].strip()
            if not package:
                self.fail(name, f"{program} needs {lib} from no Debian package")
            elif package not in closure:
                self.fail(name, f"{program} needs {lib} (package {package}), which the runtime "
                                f"stage does not install")

    # ------------------------------------------------------------------ all

    def run(self, overlays=None, check_packages=True):
        self.errors = []
        if overlays is None:
            overlays = self.overlays()
        if len(overlays) < 2:
            self.fail("deploy/k8s", f"expected the CPU and the GPU cluster, found "
                                    f"{[o.name for o in overlays]}")
        for overlay in overlays:
            self.check_objects(overlay)
            self.check_workloads(overlay)
            self.check_services(overlay)
            self.check_addresses(overlay)
            self.check_hpa(overlay)
            self.check_job_spec(overlay)
            self.check_serving(overlay)
            self.check_prometheus(overlay)
            self.check_flags(overlay)
        self.check_dockerfiles(overlays, check_packages)
        if check_packages:
            self.check_promtool()
        return list(self.errors)


# ---------------------------------------------------------------------- self-test

def find_obj(overlay, kind, name):
    return overlay.find(kind, name)


def container(overlay, kind, name):
    return find_obj(overlay, kind, name)["spec"]["template"]["spec"]["containers"][0]


def replace_arg(c, prefix, new):
    c["args"] = [new if str(a).startswith(prefix) else a for a in c["args"]]


MUTATIONS = [
    ("Service targetPort renamed", "targetPort",
     lambda o: find_obj(o, "Service", "murmur-coordinator")["spec"]["ports"][0].update(
         targetPort="grpcc")),
    ("worker --coordinator port", "no port 50052",
     lambda o: replace_arg(container(o, "StatefulSet", next(
         d["metadata"]["name"] for _, d in o.of_kind("StatefulSet"))), "--coordinator",
         "--coordinator=murmur-coordinator:50052")),
    ("serving containerPort moved", "--port=8500",
     lambda o: container(o, "Deployment", "murmur-serving")["ports"][0].update(containerPort=8600)),
    ("job.json unknown key", "no JobSpec field",
     lambda o: find_obj(o, "ConfigMap", "murmur-job")["data"].update(
         {"job.json": find_obj(o, "ConfigMap", "murmur-job")["data"]["job.json"].replace(
             '"epochs"', '"epochz"')})),
    ("job.json invalid JSON", "invalid JSON",
     lambda o: find_obj(o, "ConfigMap", "murmur-job")["data"].update({"job.json": "{"})),
    ("misspelt coordinator flag", "rejects its args",
     lambda o: replace_arg(container(o, "Deployment", "murmur-coordinator"), "--metrics-port",
                           "--metrics-prot=9091")),
    ("HPA target renamed", "scaleTargetRef",
     lambda o: find_obj(o, "HorizontalPodAutoscaler", "murmur-serving")["spec"][
         "scaleTargetRef"].update(name="murmur-serve")),
    ("Prometheus port annotation", "prometheus.io/port",
     lambda o: find_obj(o, "Deployment", "murmur-serving")["spec"]["template"]["metadata"][
         "annotations"].update({"prometheus.io/port": "9093"})),
    ("worker checkpoints elsewhere", "must be the same files",
     lambda o: [m.update(subPath="ckpt") for _, d in o.of_kind("StatefulSet")
                for m in d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
                if m.get("subPath") == "checkpoints"]),
    ("token secrets differ", "same Secret key",
     lambda o: [v["secret"].update(secretName="other") for v in find_obj(
         o, "Deployment", "murmur-serving")["spec"]["template"]["spec"]["volumes"]
                if "secret" in v]),
    ("worker --host loopback", "downward API",
     lambda o: [replace_arg(d["spec"]["template"]["spec"]["containers"][0], "--host",
                            "--host=127.0.0.1") for _, d in o.of_kind("StatefulSet")]),
    ("pod labels differ from selector", "selector",
     lambda o: find_obj(o, "Deployment", "murmur-serving")["spec"]["template"]["metadata"][
         "labels"].update({"app.kubernetes.io/component": "server"})),
]


def self_test(checker):
    base = checker.overlays()
    failures = []
    for title, expected, mutate in MUTATIONS:
        overlays = copy.deepcopy(base)
        mutate(overlays[0])
        errors = checker.run(overlays, check_packages=False)
        if not any(expected in e for e in errors):
            failures.append(f"self-test '{title}': expected an error containing {expected!r}, "
                            f"got {errors or 'none'}")
        else:
            print(f"self-test: {title}: caught ({len(errors)} error(s))")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--bin", action="append", default=[], help="NAME=PATH")
    parser.add_argument("--self-test", action="store_true")
    options = parser.parse_args()
    binaries = Binaries(dict(b.split("=", 1) for b in options.bin))
    checker = Checker(options.root, binaries)
    errors = checker.run()
    for e in errors:
        print("FAIL", e)
    if errors:
        print(f"{len(errors)} problem(s) in deploy/")
        return 1
    print(f"deploy/: {sum(len(d) for d in checker.files.values())} manifests, "
          f"{len(checker.dockerfiles)} Dockerfiles, prometheus.yml: consistent")
    if options.self_test:
        failures = self_test(checker)
        for f in failures:
            print("FAIL", f)
        if failures:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
