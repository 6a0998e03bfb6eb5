"""docker-py (the Python SDK, from PyPI) against berthd: the calls
scripts and test suites make. Usage: smoke.py unix:///path/to/berth.sock REGISTRY_HOST
(REGISTRY_HOST: 127.0.0.1:PORT serving busybox:latest)."""
import sys

import docker

base_url, registry = sys.argv[1], sys.argv[2]
client = docker.DockerClient(base_url=base_url, version="auto")

# images.pull from the local registry (plain HTTP for 127.0.0.1).
image = client.images.pull(f"{registry}/busybox", tag="latest")
assert f"{registry}/busybox:latest" in image.tags, image.tags

# containers.run: output as bytes, the container removed.
out = client.containers.run(f"{registry}/busybox", ["echo", "hello-from-docker-py"], remove=True)
assert out == b"hello-from-docker-py\n", out

# A detached container: logs, exec_run, wait, remove.
c = client.containers.run(f"{registry}/busybox", ["sh", "-c", "echo started; sleep 100"], detach=True, name="dockerpy-smoke")
try:
    c.reload()
    assert c.status == "running", c.status
    code, output = c.exec_run(["sh", "-c", "echo in-exec; exit 3"])
    assert code == 3 and output == b"in-exec\n", (code, output)
    logs = b""
    for _ in range(50):
        logs = c.logs()
        if logs:
            break
    assert logs == b"started\n", logs
    c.kill()
    result = c.wait()
    assert result["StatusCode"] == 137, result
finally:
    c.remove(force=True)

assert client.ping()
assert client.version()["ApiVersion"]
print("docker-py ok")
