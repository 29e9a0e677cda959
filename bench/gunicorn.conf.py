"""gunicorn settings of the benchmark server: the worker model this 2-core machine favours.

Chosen by experiment (docs/performance.md has the table): `python -m bench --only
client_credentials,resource,refresh --skip scale --worker-class ... --workers ... --threads ...`.
Requests per second swung by a factor of two with the load other work put on the machine, so the
choice rests on what did not: CPU time per request in the workers, from /proc.

- gthread needs about a quarter less CPU per request than sync on every scenario, and half on the
  bare view (0.5 ms instead of 1.0-1.4 ms for bare, 6.5 ms instead of 8.5-10 ms for
  client_credentials, 22 ms instead of 30-41 ms for refresh). A sync worker closes the connection
  after each response, waits for the client's FIN (gunicorn's close_graceful), and every request
  pays a TCP handshake; gthread keeps connections alive.
- One process per core: only one thread of a process runs Python at a time, and more processes
  only add switching on two cores (3 x 4 and 4 x 2 used more CPU per request than 2 x 4).
- Four threads per process fill the time a request waits for PostgreSQL (a token request commits,
  with fsync on); 2 x 8 used no less CPU per request than 2 x 4 and holds twice the database
  connections (each thread keeps its own). Each worker stays near 100 MB resident.

Production behind a proxy that keeps connections alive may want the same model, sized to its cores.
"""

worker_class = "gthread"
workers = 2
threads = 4
# wrk keeps its connections open between requests, as a proxy in front of Latch would.
keepalive = 30
