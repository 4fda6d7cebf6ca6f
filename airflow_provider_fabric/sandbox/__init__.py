"""fabric-sandbox: a local, faithful HTTPS implementation of the Fabric Genomics API.

Start it with ``fabric-sandbox --user KEY:SECRET`` (or
``python -m airflow_provider_fabric.sandbox``; ``--help`` lists every flag),
or from Python with :class:`airflow_provider_fabric.sandbox.process.SandboxProcess`.

* HTTPS on 127.0.0.1 with a private CA generated on first start
  (``DATA_DIR/tls/ca.pem``; pass it as the connection's ``verify``); an
  optional plain-HTTP port answers every request with 302 and no body.
* HTTP Basic auth against scrypt-hashed secrets: 401 for wrong or missing
  credentials, 403 for a ``noaccess`` key.
* GET parameters are read from the URL and from ``X-fg-safe-params`` alike.
* State in SQLite under the data directory; uploaded VCFs kept as files;
  variants read lazily from them (see :mod:`.variants`).
* Statuses advance on a clock (``--annotation-seconds``, ``--report-seconds``).
  A VCF whose ``##source`` line contains ``FABRIC_SANDBOX_FAIL_ANNOTATION``
  ends with a FAILED annotation (see :mod:`.lifecycle`).
* Fault injection (see :mod:`.faults`) and sandbox-only admin endpoints under
  ``/_sandbox`` (see :mod:`.admin`).

Importing this package is cheap: nothing heavy is imported until the server runs.
"""

from __future__ import annotations
