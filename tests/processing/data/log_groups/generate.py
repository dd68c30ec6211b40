"""Write the labelled log-line fixtures: one ``<system>.csv`` per system.

Every system is a list of events. An event is a group label, a weight, and
a function that draws one line with fresh variable parts. Two lines share a
group when a reader would file them under the same message: the same text
once the header (time, level, process and thread ids, logger name) is set
aside and the variable parts are allowed to change. Variable parts are ids,
numbers, addresses, paths, names, states, optional key=value fields and
free-text details after a label (``reason: ...``). Lines whose message text
differs in other words (``Failed password for`` and ``Failed password for
invalid user``, ``enable sensor`` and ``disable sensor``) are different
groups. Each group gets at least two lines
and the rest are drawn by weight, so group sizes are uneven, as in real logs.
The output only depends on the seeds, so running this again rewrites the
same files.

Run it from the repository root::

    python tests/processing/data/log_groups/generate.py
"""

from __future__ import annotations

import csv
import random
import string
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

Event = tuple[str, int, Callable[[], str]]

HERE = Path(__file__).parent

USERS = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    "judy", "mallory", "oscar", "peggy", "rupert", "sybil", "trent", "victor",
    "walter", "root", "admin", "deploy", "jenkins", "postgres", "backup",
)  # fmt: skip
INTRUDERS = (
    "test", "oracle", "guest", "ftpuser", "support", "pi", "ubnt", "tomcat",
    "hadoop", "mysql", "minecraft", "steam", "git", "user", "nagios",
)  # fmt: skip
HOSTS = (
    "atlas", "borealis", "cobalt", "dynamo", "ember", "falcon", "garnet",
    "harbor", "indigo", "juniper", "kestrel", "lumen", "meridian", "nimbus",
)  # fmt: skip
DOMAINS = ("corp.example.net", "example.org", "lab.example.com")
PROFILES = ("snap.firefox.firefox", "docker-default", "cupsd")
HIDDEN = (".git", ".env", "backup", "server-status")
RABBIT = "oslo.messaging._drivers.impl_rabbit"
BACKEND = "executor.CoarseGrainedExecutorBackend"
SPARK_SERVICES = (
    "sparkDriver", "SparkUI", "sparkExecutor",
    "org.apache.spark.network.netty.NettyBlockTransferService",
)  # fmt: skip
SLOW_CALLS = ("_slurm_rpc_dump_jobs", "_slurmctld_background", "dump_all_job_state")
BLE_REASONS = ("link loss", "user request", "timeout", "peer terminated connection")
# ZooKeeper source places, class@line.
ELECTION_600 = "FastLeaderElection@600"
ELECTION_818 = "FastLeaderElection@818"
RECEIVE = "QuorumCnxManager$RecvWorker@780"
SEND_695 = "QuorumCnxManager$SendWorker@695"
SEND_706 = "QuorumCnxManager$SendWorker@706"
LEARNER = "LearnerHandler@633"
COMMIT = "ZooKeeperServer@617"
OPEN = "QuorumCnxManager@388"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
JAVA_ERRORS = (
    "java.io.IOException: Connection reset by peer",
    "java.io.EOFException",
    "java.io.IOException: Broken pipe",
    "java.nio.channels.ClosedByInterruptException",
    "java.io.InterruptedIOException: Interrupted while waiting for IO on channel",
    "java.net.SocketTimeoutException: Read timed out",
)
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "kube-probe/1.29",
)
WEB_PATHS = (
    "/", "/index.html", "/login", "/api/v1/orders", "/api/v1/orders/{n}",
    "/static/css/site.{h}.css", "/static/js/app.{h}.js", "/favicon.ico",
    "/search?q={w}&page={n}", "/wp-login.php", "/.env", "/robots.txt",
    "/users/{w}/profile", "/api/v2/items?limit={n}&offset={n}",
)  # fmt: skip


class Draw:
    """Random values of the kinds that vary inside log lines."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, items: Sequence[str]) -> str:
        """One of the items."""
        return self.rng.choice(items)

    def n(self, low: int, high: int) -> str:
        """A whole number between low and high."""
        return str(self.rng.randint(low, high))

    def f(self, low: float, high: float, places: int = 2) -> str:
        """A decimal number with the given number of places."""
        return f"{self.rng.uniform(low, high):.{places}f}"

    def hex(self, size: int) -> str:
        """Lowercase hexadecimal digits."""
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(size))

    def uuid(self) -> str:
        """A random UUID in its usual text form."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def b64(self, size: int) -> str:
        """Characters of the base64 alphabet."""
        alphabet = string.ascii_letters + string.digits + "+/"
        return "".join(self.rng.choice(alphabet) for _ in range(size))

    def ip(self) -> str:
        """An IPv4 address, private or from the documentation ranges."""
        first = self.pick(("10", "172.16", "192.168", "203.0.113", "198.51.100"))
        parts = first.count(".") + 1
        rest = [self.n(1, 254) for _ in range(4 - parts)]
        return ".".join([first, *rest])

    def port(self) -> str:
        """An ephemeral TCP port."""
        return self.n(1024, 65535)

    def user(self) -> str:
        """A local account name."""
        return self.pick(USERS)

    def host(self) -> str:
        """A short host name without digits."""
        return self.pick(HOSTS)

    def fqdn(self) -> str:
        """A fully qualified host name."""
        return f"{self.host()}.{self.pick(DOMAINS)}"

    def mac(self) -> str:
        """A MAC address."""
        return ":".join(self.hex(2) for _ in range(6))

    def maybe(self, text: str, chance: float = 0.5) -> str:
        """The text, or nothing."""
        return text if self.rng.random() < chance else ""

    def some(self, draw: Callable[[], str], low: int, high: int, sep: str) -> str:
        """Between low and high drawn values joined by sep."""
        return sep.join(draw() for _ in range(self.rng.randint(low, high)))

    def clock(self) -> str:
        """A time of day, hh:mm:ss."""
        return f"{self.rng.randint(0, 23):02}:{self.rng.randint(0, 59):02}:" + (
            f"{self.rng.randint(0, 59):02}"
        )

    def date(self, sep: str = "-") -> str:
        """A date, year first."""
        day = f"{self.rng.randint(1, 12):02}{sep}{self.rng.randint(1, 28):02}"
        return f"{self.pick(('2023', '2024'))}{sep}{day}"

    def clf_time(self) -> str:
        """A common-log-format time: 01/Jun/2024:12:00:00 +0000."""
        day = f"{self.rng.randint(1, 28):02}/{self.pick(MONTHS)}/2024"
        return f"{day}:{self.clock()} +0000"

    def web_path(self) -> str:
        """A request path, sometimes with a query string."""
        path = self.pick(WEB_PATHS)
        return path.format(n=self.n(1, 9999), h=self.hex(8), w=self.user())


def _hdfs(d: Draw) -> list[Event]:
    def blk() -> str:
        return f"blk_{d.pick(('-', ''))}{d.n(10**17, 10**19)}"

    def task_path() -> str:
        job = f"job_{d.date('')}{d.n(1000, 2359)}_{d.n(1, 9999):0>4}"
        part = f"part-{d.n(0, 99):0>5}"
        return f"/user/{d.user()}/{job}/_temporary/_task_m_{d.n(0, 999)}/{part}"

    def size() -> str:
        return d.pick(("67108864", d.n(1000, 67108864)))

    return [
        ("receiving", 25, lambda: "INFO datanode.DataXceiver: Receiving block "
            f"{blk()} src: /{d.ip()}:{d.port()} dest: /{d.ip()}:50010"),
        ("received", 20, lambda: f"INFO datanode.DataNode: Received block {blk()} "
            f"of size {size()} from /{d.ip()}"),
        ("responder", 20, lambda: f"INFO datanode.DataNode: PacketResponder "
            f"{d.n(0, 2)} for block {blk()} terminating"),
        ("stored", 20, lambda: "INFO namenode.FSNamesystem: BLOCK* NameSystem."
            f"addStoredBlock: blockMap updated: {d.ip()}:50010 is added to "
            f"{blk()} size {size()}"),
        ("allocate", 12, lambda: "INFO namenode.FSNamesystem: BLOCK* NameSystem."
            f"allocateBlock: {task_path()}. {blk()}"),
        ("ask_delete", 8, lambda: f"INFO namenode.FSNamesystem: BLOCK* ask "
            f"{d.ip()}:50010 to delete {d.some(blk, 1, 6, ' ')}"),
        ("ask_replicate", 6, lambda: f"INFO namenode.FSNamesystem: BLOCK* ask "
            f"{d.ip()}:50010 to replicate {blk()} to datanode(s) "
            f"{d.some(lambda: d.ip() + ':50010', 1, 3, ' ')}"),
        ("deleting", 10, lambda: f"INFO datanode.FSDataset: Deleting block {blk()} "
            f"file /data/{d.pick(('sdb', 'sdc', 'sdd'))}/dfs/current/subdir"
            f"{d.n(0, 63)}/{blk()}"),
        ("verified", 8, lambda: "INFO datanode.DataBlockScanner: Verification "
            f"succeeded for {blk()}"),
        ("served", 8, lambda: f"INFO datanode.DataNode: {d.ip()}:50010 Served "
            f"block {blk()} to /{d.ip()}"),
        ("serve_failed", 5, lambda: f"WARN datanode.DataNode: {d.ip()}:50010:Got "
            f"exception while serving {blk()} to /{d.ip()}:"),
        ("write_failed", 6, lambda: f"INFO datanode.DataNode: writeBlock {blk()} "
            f"received exception {d.pick(JAVA_ERRORS)}"),
        ("late_heartbeat", 4, lambda: f"WARN namenode.NameNode: Heartbeat from "
            f"{d.host()} is late by {d.n(100, 9000)} ms, last contact "
            f"{d.n(3, 60)} s ago"),
        ("lease_expired", 3, lambda: "INFO namenode.LeaseManager: [Lease.  "
            f"Holder: DFSClient_NONMAPREDUCE_{d.n(1, 10**9)}_{d.n(1, 99)}, "
            f"pending creates: {d.n(1, 4)}] has expired hard limit"),
        ("safemode_off", 2, lambda: "INFO hdfs.StateChange: STATE* Safe mode is OFF"),
        ("safemode_extension", 3, lambda: "INFO hdfs.StateChange: STATE* Safe "
            f"mode extension entered. The reported blocks {d.n(1000, 90000)} has "
            "reached the threshold 0.9990 of total blocks "
            f"{d.n(1000, 90000)}. Safe mode will be turned off automatically in "
            f"{d.n(5, 30)} seconds."),
        ("block_totals", 4, lambda: "INFO namenode.FSNamesystem: Total number of "
            f"blocks = {d.n(1000, 90000)}; under-replicated = {d.n(0, 50)}; "
            f"over-replicated = {d.n(0, 9)}; invalid = {d.n(0, 3)}"),
        ("volume_failed", 3, lambda: f"WARN datanode.DataNode: Volume /data/"
            f"{d.pick(('sdb', 'sdc'))}/dfs failed: " + d.pick((
                "I/O error on read", "disk is read-only",
                "No space left on device",
            ))),
    ]  # fmt: skip


def _linux(d: Draw) -> list[Event]:
    def up() -> str:
        return f"[{d.rng.uniform(1, 900000):12.6f}]"

    def usb() -> str:
        return f"usb {d.n(1, 4)}-{d.n(1, 9)}{d.maybe('.' + d.n(1, 4), 0.3)}"

    def iface() -> str:
        return d.pick(("eth0", "eth1", "enp3s0", "eno1", "enp0s31f6"))

    def comm() -> str:
        return d.pick(("java", "postgres", "chrome", "python3", "node", "mysqld"))

    def disk() -> str:
        return d.pick(("sda", "sdb", "nvme0n1", "sdc"))

    def ufw_tail() -> str:
        if d.rng.random() < 0.6:
            return (
                f"PROTO=TCP SPT={d.port()} DPT={d.pick(('22', '23', '3389'))} "
                f"WINDOW={d.n(1024, 65535)} RES=0x00 SYN URGP=0"
            )
        return f"PROTO=UDP SPT={d.port()} DPT={d.pick(('53', '137'))} LEN={d.n(8, 90)}"

    return [
        ("usb_new", 10, lambda: f"{up()} {usb()}: new "
            f"{d.pick(('high-speed', 'full-speed', 'SuperSpeed'))} USB device "
            f"number {d.n(2, 40)} using xhci_hcd"),
        ("usb_gone", 8, lambda: f"{up()} {usb()}: USB disconnect, device number "
            f"{d.n(2, 40)}"),
        ("usb_product", 6, lambda: f"{up()} {usb()}: Product: " + d.pick((
            "USB2.0 Hub", "Flash Drive", "Logitech USB Receiver", "Ultra Fit",
            "Keyboard"))),
        ("link_up", 8, lambda: f"{up()} e1000e 0000:00:{d.n(10, 31)}.{d.n(0, 6)} "
            f"{iface()}: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: "
            f"{d.pick(('Rx/Tx', 'None', 'Rx'))}"),
        ("link_down", 6, lambda: f"{up()} e1000e 0000:00:{d.n(10, 31)}.{d.n(0, 6)} "
            f"{iface()}: NIC Link is Down"),
        ("oom_killed", 5, lambda: f"{up()} Out of memory: Killed process "
            f"{d.n(300, 99999)} ({comm()}) total-vm:{d.n(10**5, 10**7)}kB, "
            f"anon-rss:{d.n(10**4, 10**6)}kB, file-rss:{d.n(0, 9999)}kB, "
            f"shmem-rss:{d.n(0, 999)}kB, UID:{d.n(0, 1005)} pgtables:"
            f"{d.n(100, 9000)}kB oom_score_adj:{d.pick(('0', '1000', '-998'))}"),
        ("oom_invoked", 4, lambda: f"{up()} {comm()} invoked oom-killer: gfp_mask="
            f"0x{d.hex(6)}(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0, "
            f"oom_score_adj={d.pick(('0', '1000'))}"),
        ("segfault", 6, lambda: f"{up()} {comm()}[{d.n(300, 99999)}]: segfault at "
            f"{d.hex(12)} ip {d.hex(16)} sp {d.hex(16)} error "
            f"{d.pick(('4', '6', '14'))} in "
            f"{d.pick(('libc.so.6', 'libssl.so.3', 'libpthread.so.0'))}"
            f"[{d.hex(12)}+{d.hex(6)}]"),
        ("ext4_mounted", 5, lambda: f"{up()} EXT4-fs ({disk()}{d.n(1, 4)}): "
            f"mounted filesystem {d.uuid()} r/w with ordered data mode. Quota "
            "mode: none."),
        ("io_error", 6, lambda: f"{up()} I/O error, dev {disk()}, sector "
            f"{d.n(10**3, 10**9)} op 0x{d.n(0, 1)}:({d.pick(('READ', 'WRITE'))}) "
            f"flags 0x{d.hex(4)} phys_seg {d.n(1, 32)} prio class {d.n(0, 2)}"),
        ("apparmor", 8, lambda: f"{up()} audit: type=1400 audit("
            f"{d.n(1700000000, 1720000000)}.{d.n(100, 999)}:{d.n(10, 9999)}): "
            f"apparmor=\"DENIED\" operation=\"{d.pick(('open', 'mknod', 'exec'))}\" "
            f"profile=\"{d.pick(PROFILES)}\" "
            f"name=\"/{d.pick(('proc', 'etc', 'sys/fs'))}/{d.pick(USERS)}\" "
            f"pid={d.n(300, 99999)} comm=\"{comm()}\" requested_mask=\"r\" "
            f"denied_mask=\"r\" fsuid={d.n(0, 1005)} ouid=0"),
        ("ufw_block", 10, lambda: f"{up()} [UFW BLOCK] IN={iface()} OUT= MAC="
            f"{d.mac()}:08:00 SRC={d.ip()} DST={d.ip()} LEN={d.n(40, 1500)} "
            f"TOS=0x00 PREC=0x00 TTL={d.n(30, 250)} ID={d.n(1, 65535)} "
            f"{d.maybe('DF ')}{ufw_tail()}"),
        ("throttled", 5, lambda: f"{up()} CPU{d.n(0, 15)}: Core temperature above "
            f"threshold, cpu clock throttled (total events = {d.n(1, 90000)})"),
        ("throttle_normal", 4, lambda: f"{up()} CPU{d.n(0, 15)}: Core "
            "temperature/speed normal"),
        ("nfs_down", 4, lambda: f"{up()} nfs: server {d.host()} not responding, "
            "still trying"),
        ("nfs_ok", 4, lambda: f"{up()} nfs: server {d.host()} OK"),
        ("hung_task", 4, lambda: f"{up()} INFO: task {comm()}:{d.n(300, 99999)} "
            f"blocked for more than {d.pick(('120', '241', '362'))} seconds."),
        ("syn_flood", 3, lambda: f"{up()} TCP: request_sock_TCP: Possible SYN "
            f"flooding on port {d.pick(('80', '443', '8080'))}. Sending cookies.  "
            "Check SNMP counters."),
        ("martian", 3, lambda: f"{up()} IPv4: martian source {d.ip()} from "
            f"{d.ip()}, on dev {iface()}"),
    ]  # fmt: skip


def _apache_head(d: Draw, module: str, client: bool) -> str:
    stamp = (
        f"[{d.pick(DAYS)} {d.pick(MONTHS)} {d.n(10, 28)} {d.clock()}."
        f"{d.n(100000, 999999)} 2024]"
    )
    pid = f"[pid {d.n(1000, 99999)}:tid {d.n(10**14, 10**15)}]"
    peer = f" [client {d.ip()}:{d.port()}]" if client else ""
    return f"{stamp} [{module}] {pid}{peer}"


def _access_line(d: Draw) -> str:
    method = d.pick(("GET", "GET", "GET", "POST", "HEAD", "PUT"))
    status = d.pick(("200", "200", "200", "304", "301", "404", "403", "500", "502"))
    who = d.pick(("-", "-", "-", d.user()))
    referer = d.pick(("-", f"https://{d.fqdn()}{d.web_path()}"))
    return (
        f'{d.ip()} - {who} [{d.clf_time()}] "{method} {d.web_path()} HTTP/1.1" '
        f'{status} {d.n(0, 90000)} "{referer}" "{d.pick(USER_AGENTS)}"'
    )


def _apache(d: Draw) -> list[Event]:
    def head(module: str, client: bool = True) -> str:
        return _apache_head(d, module, client)

    def area() -> str:
        return d.pick(("admin", "private", "staff", "reports"))

    def php() -> str:
        return d.pick(("index", "cart", "lib/db", "wp-includes/load", "api"))

    return [
        ("access", 60, lambda: _access_line(d)),
        ("invalid_uri", 4, lambda: f"{head('core:error')} AH10244: invalid URI "
            f"path (/cgi-bin/.%2e/.%2e/{d.pick(('bin/sh', 'etc/passwd'))})"),
        ("configured", 3, lambda: f"{head('mpm_event:notice', False)} AH00489: "
            f"Apache/2.4.{d.n(50, 62)} (Ubuntu) OpenSSL/3.0.{d.n(2, 13)} "
            "configured -- resuming normal operations"),
        ("command_line", 3, lambda: f"{head('core:notice', False)} AH00094: "
            "Command line: '/usr/sbin/apache2'"),
        ("denied_config", 6, lambda: f"{head('authz_core:error')} AH01630: client "
            f"denied by server configuration: /var/www/html/{d.pick(HIDDEN)}"),
        ("php_undefined", 6, lambda: f"{head('php:error')} PHP Fatal error:  "
            f"Uncaught Error: Call to undefined function "
            f"{d.pick(('mysql_connect', 'each', 'create_function', 'split'))}() "
            f"in /var/www/html/{php()}.php:{d.n(3, 900)}"),
        ("php_undefined_key", 6, lambda: f"{head('php:warn')} PHP Warning:  "
            f"Undefined array key \"{d.pick(('user', 'id', 'redirect', 'lang'))}\" "
            f"in /var/www/html/{php()}.php on line {d.n(3, 900)}"),
        ("cert_name", 3, lambda: f"{head('ssl:warn', False)} AH01909: "
            f"{d.fqdn()}:443:0 server certificate does NOT include an ID which "
            "matches the server name"),
        ("proxy_refused", 5, lambda: f"{head('proxy:error')} (111)Connection "
            f"refused: AH00957: http: attempt to connect to {d.ip()}:"
            f"{d.pick(('8080', '3000', '9000'))} ({d.host()}) failed"),
        ("proxy_backend", 4, lambda: f"{head('proxy_http:error')} AH01114: HTTP: "
            f"failed to make connection to backend: {d.host()}"),
        ("user_not_found", 4, lambda: f"{head('auth_basic:error')} AH01618: user "
            f"{d.pick(INTRUDERS)} not found: /{area()}"),
        ("password_mismatch", 4, lambda: f"{head('auth_basic:error')} AH01617: "
            f"user {d.user()}: authentication failure for \"/{area()}\": "
            "Password Mismatch"),
        ("graceful", 2, lambda: f"{head('mpm_event:notice', False)} AH00492: "
            "caught SIGWINCH, shutting down gracefully"),
        ("script_missing", 4, lambda: f"{head('cgi:error')} AH02811: script not "
            f"found or unable to stat: /usr/lib/cgi-bin/"
            f"{d.pick(('php', 'test.cgi', 'luci', 'admin.pl'))}"),
        ("header_timeout", 3, lambda: f"{head('reqtimeout:info')} AH01382: "
            "Request header read timeout"),
    ]  # fmt: skip


def _openssh(d: Draw) -> list[Event]:
    def peer() -> str:
        return f"{d.ip()} port {d.port()}"

    def reason() -> str:
        return d.pick((
            "Bye Bye", "disconnected by user", "Client disconnecting normally",
            "Normal Shutdown, Thank you for playing",
        ))  # fmt: skip

    return [
        ("accepted_key", 10, lambda: f"Accepted publickey for {d.user()} from "
            f"{peer()} ssh2: {d.pick(('RSA', 'ED25519', 'ECDSA'))} "
            f"SHA256:{d.b64(43)}"),
        ("accepted_password", 6, lambda: f"Accepted password for {d.user()} from "
            f"{peer()} ssh2"),
        ("failed_password", 20, lambda: f"Failed password for {d.user()} from "
            f"{peer()} ssh2"),
        ("failed_invalid", 20, lambda: "Failed password for invalid user "
            f"{d.pick(INTRUDERS)} from {peer()} ssh2"),
        ("invalid_user", 20, lambda: f"Invalid user {d.pick(INTRUDERS)} from "
            f"{peer()}"),
        ("session_opened", 10, lambda: "pam_unix(sshd:session): session opened "
            f"for user {d.user()}(uid={d.n(0, 1005)}) by (uid=0)"),
        ("session_closed", 10, lambda: "pam_unix(sshd:session): session closed "
            f"for user {d.user()}"),
        ("auth_failure", 10, lambda: "pam_unix(sshd:auth): authentication "
            "failure; logname= uid=0 euid=0 tty=ssh ruser= rhost="
            f"{d.pick((d.ip(), d.fqdn()))}{d.maybe('  user=' + d.user())}"),
        ("received_disconnect", 10, lambda: f"Received disconnect from {d.ip()} "
            f"port {d.port()}:11: {reason()}{d.maybe(' [preauth]')}"),
        ("disconnected_user", 8, lambda: f"Disconnected from user {d.user()} "
            f"{peer()}"),
        ("closed_authenticating", 8, lambda: "Connection closed by authenticating "
            f"user {d.user()} {peer()} [preauth]"),
        ("closed", 8, lambda: f"Connection closed by {peer()} [preauth]"),
        ("max_attempts", 3, lambda: "error: maximum authentication attempts "
            f"exceeded for {d.user()} from {peer()} ssh2 [preauth]"),
        ("max_attempts_invalid", 3, lambda: "error: maximum authentication "
            f"attempts exceeded for invalid user {d.pick(INTRUDERS)} from "
            f"{peer()} ssh2 [preauth]"),
        ("too_many_failures", 4, lambda: "Disconnecting authenticating user "
            f"{d.user()} {peer()}: Too many authentication failures [preauth]"),
        ("reverse_mapping", 4, lambda: "reverse mapping checking getaddrinfo for "
            f"{d.fqdn()} [{d.ip()}] failed - POSSIBLE BREAK-IN ATTEMPT!"),
        ("no_identification", 4, lambda: "Did not receive identification string "
            f"from {peer()}"),
        ("listening", 2, lambda: f"Server listening on {d.pick(('0.0.0.0', '::'))} "
            "port 22."),
        ("signal", 2, lambda: "Received signal 15; terminating."),
        ("auth_timeout", 3, lambda: "fatal: Timeout before authentication for "
            f"{peer()}"),
        ("more_failures", 4, lambda: f"PAM {d.n(1, 5)} more authentication "
            f"failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={d.ip()}  "
            f"user={d.user()}"),
        ("bad_protocol", 3, lambda: "Bad protocol version identification '"
            + d.pick(("GET / HTTP/1.1", "\\026\\003\\001", "SSH-2.0-Go scanner"))
            + f"' from {peer()}"),
    ]  # fmt: skip


def _openstack(d: Draw) -> list[Event]:
    def head(level: str, logger: str, request: bool = True) -> str:
        stamp = f"{d.date()} {d.clock()}.{d.n(100, 999)} {d.n(1000, 40000)}"
        context = (
            f"[req-{d.uuid()} {d.hex(32)} {d.hex(32)} - - -]" if request else "[-]"
        )
        return f"{stamp} {level} {logger} {context}"

    def inst(logger: str = "nova.compute.manager") -> str:
        return f"{head('INFO', logger)} [instance: {d.uuid()}]"

    def api() -> str:
        method = d.pick(("GET", "GET", "POST", "DELETE"))
        tail = d.pick(("servers/detail", f"servers/{d.uuid()}", "flavors/detail"))
        return f'"{method} /v2/{d.hex(32)}/{tail} HTTP/1.1"'

    def node() -> str:
        return f"{d.host()}.{d.pick(DOMAINS)}"

    def image_dir() -> str:
        return f"/var/lib/nova/instances/_base/{d.hex(40)}"

    return [
        ("wsgi", 50, lambda: f"{head('INFO', 'nova.osapi_compute.wsgi.server')} "
            f"{d.ip()} {api()} status: {d.pick(('200', '202', '204', '404'))} "
            f"len: {d.n(100, 9000)} time: {d.f(0, 3, 7)}"),
        ("wsgi", 10, lambda: f"{head('INFO', 'nova.metadata.wsgi.server', False)}"
            f" {d.ip()},{d.ip()} \"GET /openstack/2013-10-17/"
            f"{d.pick(('meta_data.json', 'vendor_data.json', 'user_data'))} "
            f"HTTP/1.1\" status: 200 len: {d.n(100, 3000)} time: {d.f(0, 1, 7)}"),
        ("took_spawn", 6, lambda: f"{inst()} Took {d.f(1, 60)} seconds to spawn "
            "the instance on the hypervisor."),
        ("took_build", 6, lambda: f"{inst()} Took {d.f(1, 60)} seconds to build "
            "instance."),
        ("took_destroy", 5, lambda: f"{inst()} Took {d.f(0, 5)} seconds to destroy "
            "the instance on the hypervisor."),
        ("destroyed", 5, lambda: f"{inst('nova.virt.libvirt.driver')} Instance "
            "destroyed successfully."),
        ("deleting_files", 4, lambda: f"{inst('nova.virt.libvirt.driver')} "
            f"Deleting instance files /var/lib/nova/instances/{d.uuid()}_del"),
        ("deletion_done", 4, lambda: f"{inst('nova.virt.libvirt.driver')} "
            f"Deletion of /var/lib/nova/instances/{d.uuid()}_del complete"),
        ("claim_ok", 4, lambda: f"{inst('nova.compute.claims')} Claim successful "
            f"on node {node()}"),
        ("claim_attempt", 4, lambda: f"{inst('nova.compute.claims')} Attempting "
            f"claim on node {node()}: memory {d.n(512, 16384)} MB, disk "
            f"{d.n(1, 160)} GB, vcpus {d.n(1, 16)} CPU"),
        ("final_view", 6, lambda: f"{head('INFO', 'nova.compute.resource_tracker')}"
            f" Final resource view: name={node()} phys_ram={d.n(64000, 512000)}MB "
            f"used_ram={d.n(512, 64000)}MB phys_disk={d.n(100, 4000)}GB "
            f"used_disk={d.n(0, 100)}GB total_vcpus={d.n(8, 96)} "
            f"used_vcpus={d.n(0, 8)} pci_stats=[]"),
        ("pending_task", 5, lambda: f"{inst()} During sync_power_state the "
            "instance has a pending task "
            f"({d.pick(('spawning', 'deleting', 'rebooting', 'image_uploading'))})."
            " Skip."),
        ("auditing", 4, lambda: f"{head('INFO', 'nova.compute.resource_tracker')} "
            f"Auditing locally available compute resources for {d.host()} "
            f"(node: {node()})"),
        ("amqp_down", 3, lambda: f"{head('ERROR', RABBIT, False)}"
            f" [{d.uuid()}] AMQP server on {d.ip()}:5672 is unreachable: [Errno "
            f"111] ECONNREFUSED. Trying again in {d.n(1, 32)} seconds."),
        ("image_checking", 4, lambda: f"{head('INFO', 'nova.virt.libvirt.imagecache')}"
            f" image {d.uuid()} at ({image_dir()}): checking"),
        ("image_in_use", 3, lambda: f"{head('INFO', 'nova.virt.libvirt.imagecache')}"
            f" image {d.uuid()} at ({image_dir()}): in use: on this node "
            f"{d.n(1, 9)} local, {d.n(0, 9)} on other nodes sharing this instance "
            "storage"),
        ("lifecycle", 16, lambda: f"{inst()} VM "
            f"{d.pick(('Started', 'Paused', 'Resumed', 'Stopped'))} "
            "(Lifecycle Event)"),
    ]  # fmt: skip


def _spark(d: Draw) -> list[Event]:
    def head(level: str, logger: str) -> str:
        stamp = f"{d.date('/')[2:]} {d.clock()}"
        return f"{stamp} {level} {logger}:"

    def tid() -> str:
        return f"{d.n(0, 400)}.{d.pick(('0', '0', '1'))} in stage {d.n(0, 60)}.0"

    def node() -> str:
        return f"{d.host()}.{d.pick(DOMAINS)}"

    def size() -> str:
        return f"{d.f(0.1, 900, 1)} {d.pick(('KB', 'B', 'MB'))}"

    def users() -> str:
        return d.some(d.user, 1, 3, ", ")

    return [
        ("running", 25, lambda: f"{head('INFO', 'executor.Executor')} Running "
            f"task {tid()} (TID {d.n(0, 9999)})"),
        ("finished", 25, lambda: f"{head('INFO', 'executor.Executor')} Finished "
            f"task {tid()} (TID {d.n(0, 9999)}). {d.n(900, 9000)} bytes result "
            "sent to driver"),
        ("found_block", 15, lambda: f"{head('INFO', 'storage.BlockManager')} Found "
            f"block rdd_{d.n(0, 90)}_{d.n(0, 400)} locally"),
        ("stored_values", 10, lambda: f"{head('INFO', 'storage.MemoryStore')} "
            f"Block broadcast_{d.n(0, 90)} stored as values in memory (estimated "
            f"size {size()}, free {d.f(100, 900, 1)} MB)"),
        ("stored_bytes", 6, lambda: f"{head('INFO', 'storage.MemoryStore')} Block "
            f"broadcast_{d.n(0, 90)}_piece0 stored as bytes in memory (estimated "
            f"size {size()}, free {d.f(100, 900, 1)} MB)"),
        ("view_acls", 4, lambda: f"{head('INFO', 'spark.SecurityManager')} "
            f"Changing view acls to: {d.some(d.user, 1, 3, ',')}"),
        ("security_manager", 3, lambda: f"{head('INFO', 'spark.SecurityManager')} "
            "SecurityManager: authentication disabled; ui acls disabled; users "
            f"with view permissions: Set({users()}); users with modify "
            f"permissions: Set({users()})"),
        ("signal_handlers", 3, lambda: f"{head('INFO', BACKEND)}"
            " Registered signal handlers for [TERM, HUP, INT]"),
        ("local_dir", 4, lambda: f"{head('INFO', 'storage.DiskBlockManager')} "
            f"Created local directory at /mnt/yarn/usercache/{d.user()}/appcache/"
            f"application_{d.n(10**12, 10**13)}_{d.n(1, 9999):0>4}/"
            f"blockmgr-{d.uuid()}"),
        ("reading_started", 8, lambda: f"{head('INFO', 'broadcast.TorrentBroadcast')}"
            f" Started reading broadcast variable {d.n(0, 90)}"),
        ("reading_took", 8, lambda: f"{head('INFO', 'broadcast.TorrentBroadcast')} "
            f"Reading broadcast variable {d.n(0, 90)} took {d.n(1, 900)} ms"),
        ("lost_task", 5, lambda: f"{head('WARN', 'scheduler.TaskSetManager')} Lost "
            f"task {tid()} (TID {d.n(0, 9999)}, {node()}, executor "
            f"{d.n(1, 40)}): {d.pick(JAVA_ERRORS)}"),
        ("task_exception", 4, lambda: f"{head('ERROR', 'executor.Executor')} "
            f"Exception in task {tid()} (TID {d.n(0, 9999)})"),
        ("job_finished", 4, lambda: f"{head('INFO', 'scheduler.DAGScheduler')} Job "
            f"{d.n(0, 90)} finished: {d.pick(('collect', 'count', 'saveAsTextFile'))}"
            f" at {d.pick(('Etl', 'Report', 'Sessionize'))}.scala:{d.n(20, 400)}, "
            f"took {d.f(0.1, 900, 6)} s"),
        ("committed", 6, lambda: f"{head('INFO', 'mapred.SparkHadoopMapRedUtil')} "
            f"attempt_{d.date('')}{d.n(1000, 2359)}_{d.n(1, 9999):0>4}_m_"
            f"{d.n(0, 999):0>6}_{d.n(0, 3)}: Committed"),
        ("service_started", 4, lambda: f"{head('INFO', 'util.Utils')} Successfully "
            f"started service '{d.pick(SPARK_SERVICES)}'"
            f" on port {d.port()}."),
        ("final_status", 3, lambda: f"{head('INFO', 'yarn.ApplicationMaster')} Final "
            f"app status: {d.pick(('SUCCEEDED', 'FAILED', 'KILLED'))}, exitCode: "
            f"{d.pick(('0', '1', '15', '143'))}"),
        ("input_split", 8, lambda: f"{head('INFO', 'rdd.HadoopRDD')} Input split: "
            f"hdfs://{d.host()}:8020/user/{d.user()}/data/part-{d.n(0, 999):0>5}:"
            f"{d.n(0, 10**8)}+{d.n(10**5, 10**8)}"),
    ]  # fmt: skip


def _cbs(d: Draw) -> list[Event]:
    def head(level: str = "Info", part: str = "CBS") -> str:
        return f"{d.date()} {d.clock()}, {level:<22}{part:<7}"

    def version() -> str:
        return f"6.1.7601.{d.n(17000, 24000)}"

    def package() -> str:
        kb = d.n(2500000, 4600000)
        number = d.maybe(d.n(1, 99) + "_")
        return f"Package_{number}for_KB{kb}~31bf3856ad364e35~amd64~~{version()}"

    def client() -> str:
        return d.pick((
            "WindowsUpdateAgent", "DISM Package Manager Provider",
            "Windows Defender", "UpdateAgentLCU",
        ))  # fmt: skip

    def hresult() -> str:
        return d.pick((
            "0x00000000 - S_OK", "0x800f0922 - CBS_E_INSTALLERS_FAILED",
            "0x80070005 - E_ACCESSDENIED",
        ))  # fmt: skip

    return [
        ("ti_init_start", 4, lambda: f"{head()}Starting TrustedInstaller "
            "initialization."),
        ("ti_init_end", 4, lambda: f"{head()}Ending TrustedInstaller "
            "initialization."),
        ("ti_main_loop", 4, lambda: f"{head()}Starting the TrustedInstaller main "
            "loop."),
        ("ti_started", 4, lambda: f"{head()}TrustedInstaller service starts "
            "successfully."),
        ("sqm_init", 4, lambda: f"{head()}SQM: Initializing online with Windows "
            f"opt-in: {d.pick(('False', 'True'))}"),
        ("sqm_cleanup", 4, lambda: f"{head()}SQM: Cleaning up report files older "
            "than 10 days."),
        ("loaded_stack", 4, lambda: f"{head()}Loaded Servicing Stack v{version()} "
            "with Core: C:\\Windows\\winsxs\\amd64_microsoft-windows-"
            f"servicingstack_31bf3856ad364e35_{version()}_none_{d.hex(16)}"
            "\\cbscore.dll"),
        ("session_init", 12, lambda: f"{head()}Session: {d.n(30500000, 30600000)}_"
            f"{d.n(10**8, 10**9)} initialized by client {client()}."),
        ("applicability", 30, lambda: f"{head()}Read out cached package "
            f"applicability for package: {package()}, ApplicableState: "
            f"{d.pick(('80', '112', '0'))}, CurrentState:{d.pick(('112', '0'))}"),
        ("next_element", 8, lambda: f"{head()}Failed to get next element [HRESULT "
            "= 0x800f080d - CBS_E_MANIFEST_INVALID_ITEM]"),
        ("unrecognized", 6, lambda: f"{head('Warning')}Warning: Unrecognized "
            "packageExtended attribute."),
        ("exec_complete", 4, lambda: f"{head()}Exec: Processing complete.  "
            f"Session: {d.n(30500000, 30600000)}_{d.n(10**8, 10**9)} [HRESULT = "
            f"{hresult()}]"),
        ("wcp_init", 8, lambda: f"{head(part='CSI')}{d.hex(8)}@{d.date('/')}:"
            f"{d.clock()}.{d.n(100, 999)} WcpInitialize (wcp.dll version "
            f"0.0.0.6) called (stack {d.some(lambda: '@0x' + d.hex(10), 3, 6, ' ')})"),
        ("appl_detect", 16, lambda: f"{head()}Appl: detect Parent, Package: "
            f"{package()}, Parent: Microsoft-Windows-"
            f"{d.pick(('Client', 'Foundation', 'Media'))}-Package~31bf3856ad364e35"
            f"~amd64~~{version()}, Disposition = Detect, VersionComp: EQ, "
            "ServiceComp: GE, BuildComp: GE, DistributionComp: GE, "
            "RevisionComp: GE, Exist: present"),
        ("appl_selectable", 8, lambda: f"{head()}Appl: Selectable Update: "
            f"{d.pick(('Client', 'Foundation', 'Media', 'Printing'))}, pkgClass: "
            f"{d.n(1, 9)}, ulEvaluate: {d.n(0, 1)}, ulDisposition: {d.n(0, 3)}"),
        ("mark_corruption", 3, lambda: f"{head('Error')}Mark store corruption flag "
            f"because of package: {package()}. [HRESULT = 0x80070490 - "
            "ERROR_NOT_FOUND]"),
        ("reboot_refs", 3, lambda: f"{head()}Reboot mark refs: {d.n(0, 9)}"),
        ("open_failed", 4, lambda: f"{head('Error')}Failed to internally open "
            "package. [HRESULT = 0x800f0805 - CBS_E_INVALID_PACKAGE]"),
        ("ti_stopping", 4, lambda: f"{head()}Trusted Installer is shutting down "
            "because: "
            f"{d.pick(('SHUTDOWN_REASON_AUTOSTOP', 'SHUTDOWN_REASON_USER'))}"),
    ]  # fmt: skip


def _scheduler(d: Draw) -> list[Event]:
    def head() -> str:
        return f"[{d.date()}T{d.clock()}.{d.n(100, 999)}]"

    def job() -> str:
        return d.n(100000, 999999)

    def node() -> str:
        return d.pick((f"node{d.n(1, 256):0>3}", f"gpu{d.n(1, 32):0>2}"))

    def nodes() -> str:
        low = d.rng.randint(1, 200)
        return d.pick((node(), f"node[{low:0>3}-{low + d.rng.randint(1, 8):0>3}]"))

    def part() -> str:
        return d.pick(("debug", "batch", "gpu", "long", "short"))

    return [
        ("submit", 25, lambda: f"{head()} _slurm_rpc_submit_batch_job: JobId={job()}"
            f" InitPrio={d.n(1000, 99999)} usec={d.n(100, 9999)}"),
        ("allocate", 20, lambda: f"{head()} sched: Allocate JobId={job()} "
            f"NodeList={nodes()} #CPUs={d.n(1, 128)} Partition={part()}"),
        ("complete_status", 15, lambda: f"{head()} _job_complete: JobId={job()} "
            f"WEXITSTATUS {d.pick(('0', '0', '1', '137'))}"),
        ("complete_done", 15, lambda: f"{head()} _job_complete: JobId={job()} done"),
        ("time_limit", 5, lambda: f"{head()} Time limit exhausted for JobId={job()}"),
        ("not_responding", 4, lambda: f"{head()} error: Nodes {nodes()} not "
            "responding"),
        ("responding", 4, lambda: f"{head()} Node {node()} now responding"),
        ("kill_job", 6, lambda: f"{head()} _slurm_rpc_kill_job: REQUEST_KILL_JOB "
            f"JobId={job()} uid {d.n(1000, 1200)}"),
        ("reason_set", 4, lambda: f"{head()} update_node: node {node()} reason set "
            "to: " + d.pick((
                "disk failure on /scratch", "kernel upgrade", "maint",
                "memory errors reported by EDAC",
            ))),
        ("state_set", 5, lambda: f"{head()} update_node: node {node()} state set to "
            f"{d.pick(('DRAINED', 'IDLE', 'DOWN', 'RESUME'))}"),
        ("backfill", 8, lambda: f"{head()} backfill: Started JobId={job()} in "
            f"{part()} on {nodes()}"),
        ("alloc_resources", 6, lambda: f"{head()} sched: "
            f"_slurm_rpc_allocate_resources JobId={job()} NodeList={nodes()} "
            f"usec={d.n(100, 9999)}"),
        ("zero_bytes", 4, lambda: f"{head()} error: slurm_receive_msg [{d.ip()}:"
            f"{d.port()}]: Zero Bytes were transmitted or received"),
        ("resend_terminate", 3, lambda: f"{head()} Resending TERMINATE_JOB request "
            f"JobId={job()} Nodelist={nodes()}"),
        ("never_runnable", 3, lambda: f"{head()} _pick_best_nodes: JobId={job()} "
            f"never runnable in partition {part()}"),
        ("completion_took", 4, lambda: f"{head()} cleanup_completing: "
            f"JobId={job()} completion process took {d.n(1, 300)} seconds"),
        ("slow_rpc", 3, lambda: f"{head()} Warning: Note very large processing "
            "time from "
            f"{d.pick(SLOW_CALLS)}"
            f": usec={d.n(10**6, 10**8)} began={d.clock()}.{d.n(100, 999)}"),
        ("requeue", 4, lambda: f"{head()} requeue JobId={job()} due to failure of "
            f"node {node()}"),
        ("email", 3, lambda: f"{head()} email msg to {d.user()}@example.org: Slurm "
            f"Job_id={job()} Name={d.pick(('train', 'etl', 'render', 'sweep'))} "
            f"Ended, Run time {d.clock()}, "
            f"{d.pick(('COMPLETED', 'FAILED', 'TIMEOUT'))}, ExitCode "
            f"{d.pick(('0', '1', '2'))}"),
    ]  # fmt: skip


def _nginx(d: Draw) -> list[Event]:
    def head(level: str, conn: bool = True) -> str:
        pid = d.n(1000, 60000)
        cid = f" *{d.n(1, 10**7)}" if conn else ""
        return f"{d.date('/')} {d.clock()} [{level}] {pid}#{pid}:{cid}"

    def req() -> str:
        return f"{d.pick(('GET', 'POST'))} {d.web_path()} HTTP/1.1"

    def ctx(upstream: bool = False) -> str:
        host = d.fqdn()
        middle = f', upstream: "http://{d.ip()}:8080{d.web_path()}"' if upstream else ""
        referrer = d.maybe(f', referrer: "https://{host}/"', 0.3)
        return (
            f'client: {d.ip()}, server: {host}, request: "{req()}"{middle}, '
            f'host: "{host}"{referrer}'
        )

    return [
        ("access", 70, lambda: _access_line(d)),
        ("connect_refused", 10, lambda: f"{head('error')} connect() failed (111: "
            f"Connection refused) while connecting to upstream, {ctx(True)}"),
        ("upstream_timeout", 8, lambda: f"{head('error')} upstream timed out (110: "
            "Connection timed out) while reading response header from upstream, "
            f"{ctx(True)}"),
        ("open_failed", 10, lambda: f"{head('error')} open() \"/usr/share/nginx/html"
            f"{d.pick(('/favicon.ico', '/wp-login.php', '/.env', '/admin/config.php'))}"
            f"\" failed (2: No such file or directory), {ctx()}"),
        ("buffered", 6, lambda: f"{head('warn')} an upstream response is buffered "
            f"to a temporary file /var/cache/nginx/proxy_temp/{d.n(0, 9)}/"
            f"{d.n(10, 99)}/{d.n(10**9, 10**10)} while reading upstream, "
            f"{ctx(True)}"),
        ("signal_started", 3, lambda: f"{head('notice', False)} signal process "
            "started"),
        ("epoll", 3, lambda: f"{head('notice', False)} using the \"epoll\" event "
            "method"),
        ("start_worker", 6, lambda: f"{head('notice', False)} start worker process "
            f"{d.n(1000, 60000)}"),
        ("ssl_handshake", 5, lambda: f"{head('crit')} SSL_do_handshake() failed "
            f"(SSL: error:0A000{d.hex(3)}:SSL routines::"
            f"{d.pick(('bad key share', 'unsupported protocol', 'no shared cipher'))}"
            f") while SSL handshaking, client: {d.ip()}, server: 0.0.0.0:443"),
        ("too_large", 5, lambda: f"{head('error')} client intended to send too "
            f"large body: {d.n(10**6, 10**9)} bytes, {ctx()}"),
        ("limiting", 8, lambda: f"{head('error')} limiting requests, excess: "
            f"{d.f(0, 50, 3)} by zone \"{d.pick(('api', 'login', 'global'))}\", "
            f"{ctx()}"),
        ("conflicting_name", 3, lambda: f"{head('warn', False)} conflicting server "
            f"name \"{d.fqdn()}\" on 0.0.0.0:80, ignored"),
        ("forbidden", 5, lambda: f"{head('error')} access forbidden by rule, "
            f"{ctx()}"),
        ("bind_failed", 3, lambda: f"{head('emerg', False)} bind() to 0.0.0.0:"
            f"{d.pick(('80', '443', '8080'))} failed (98: Address already in use)"),
        ("reset_by_peer", 6, lambda: f"{head('error')} recv() failed (104: "
            "Connection reset by peer) while reading response header from "
            f"upstream, {ctx(True)}"),
        ("directory_index", 4, lambda: f"{head('error')} directory index of "
            f"\"/var/www/{d.pick(('html', 'static', 'shop'))}/\" is forbidden, "
            f"{ctx()}"),
    ]  # fmt: skip


def _android(d: Draw) -> list[Event]:
    def head(level: str, tag: str) -> str:
        stamp = f"{d.n(1, 12):0>2}-{d.n(1, 28):0>2} {d.clock()}.{d.n(100, 999)}"
        return f"{stamp} {d.n(300, 32000):>5} {d.n(300, 32000):>5} {level} {tag}:"

    def pkg() -> str:
        return d.pick((
            "com.example.mail", "com.example.fit", "org.example.reader",
            "com.android.chrome", "com.google.android.gms",
        ))  # fmt: skip

    def activity() -> str:
        return d.pick(("MainActivity", "SettingsActivity", "ui.InboxActivity"))

    def binder() -> str:
        return f"Binder:{d.n(300, 9000)}_2"

    def tag() -> str:
        return d.pick((
            "*alarm*", "NlpWakeLock", "GCoreFlp", "AudioMix",
            "Wakeful StateMachine: GeofencerStateMachine", "SyncLoopWakeLock",
        ))  # fmt: skip

    return [
        ("start_proc", 8, lambda: f"{head('I', 'ActivityManager')} Start proc "
            f"{d.n(300, 32000)}:{pkg()}/u0a{d.n(10, 300)} for "
            f"{d.pick(('activity', 'service', 'broadcast'))} {pkg()}/.{activity()}"),
        ("displayed", 8, lambda: f"{head('I', 'ActivityManager')} Displayed "
            f"{pkg()}/.{activity()}: +{d.maybe(d.n(1, 3) + 's')}{d.n(10, 999)}ms"),
        ("wakelock_acquire", 20, lambda: f"{head('D', 'PowerManagerService')} "
            f"acquireWakeLockInternal: lock={d.n(10**7, 10**9)}, flags=0x"
            f"{d.pick(('1', 'a'))}, tag=\"{tag()}\", ws=null, uid="
            f"{d.n(1000, 10300)}, pid={d.n(300, 32000)}"),
        ("wakelock_release", 20, lambda: f"{head('D', 'PowerManagerService')} "
            f"releaseWakeLockInternal: lock={d.n(10**7, 10**9)} [{tag()}], "
            "flags=0x0"),
        ("service_not_found", 5, lambda: f"{head('W', 'ActivityManager')} Unable "
            "to start service Intent { act="
            f"{d.pick(('com.example.SYNC', 'android.intent.action.SEND'))} pkg="
            f"{pkg()} }} U=0: not found"),
        ("fatal_exception", 3, lambda: f"{head('E', 'AndroidRuntime')} FATAL "
            f"EXCEPTION: {d.pick(('main', 'AsyncTask #1', 'OkHttp Dispatcher'))}"),
        ("crash_process", 3, lambda: f"{head('E', 'AndroidRuntime')} Process: "
            f"{pkg()}, PID: {d.n(300, 32000)}"),
        ("died", 6, lambda: f"{head('I', 'ActivityManager')} Process {pkg()} (pid "
            f"{d.n(300, 32000)}) has died: {d.pick(('fg', 'vis', 'prcp', 'cch'))}"),
        ("channel_broken", 3, lambda: f"{head('W', 'InputDispatcher')} channel '"
            f"{d.hex(7)} {pkg()}/{pkg()}.{activity()} (server)' ~ Channel is "
            "unrecoverably broken and will be disposed!"),
        ("chatty", 5, lambda: f"{head('I', 'chatty  ')} uid={d.n(1000, 10300)}("
            f"{pkg()}) {d.pick(('RenderThread', 'main', binder()))}"
            f" identical {d.n(2, 40)} lines"),
        ("bt_null", 3, lambda: f"{head('E', 'BluetoothAdapter')} Bluetooth binder "
            "is null"),
        ("unknown_host", 5, lambda: f"{head('W', 'System.err')} "
            "java.net.UnknownHostException: Unable to resolve host "
            f"\"{d.pick(('api.example.com', 'sync.example.org', 'cdn.example.net'))}"
            "\": No address associated with hostname"),
        ("gc", 8, lambda: f"{head('I', 'art     ')} Background concurrent copying GC "
            f"freed {d.n(1000, 90000)}({d.n(1, 9000)}KB) AllocSpace objects, "
            f"{d.n(0, 90)}({d.n(0, 9000)}KB) LOS objects, {d.n(20, 60)}% free, "
            f"{d.n(5, 90)}MB/{d.n(90, 190)}MB, paused {d.n(50, 900)}us total "
            f"{d.n(10, 900)}ms"),
        ("wifi_enabled", 4, lambda: f"{head('D', 'WifiService')} setWifiEnabled "
            f"package={pkg()} uid={d.n(1000, 10300)} "
            f"enable={d.pick(('true', 'false'))}"),
        ("sensor_on", 3, lambda: f"{head('V', 'SensorService')} enable sensor "
            f"handle=0x{d.hex(2)} "
            f"({d.pick(('Accelerometer', 'Step Counter', 'Gyroscope'))}) by {pkg()}"),
        ("sensor_off", 3, lambda: f"{head('V', 'SensorService')} disable sensor "
            f"handle=0x{d.hex(2)} "
            f"({d.pick(('Accelerometer', 'Step Counter', 'Gyroscope'))}) by {pkg()}"),
        ("alarm", 6, lambda: f"{head('V', 'AlarmManager')} set alarm type="
            f"{d.pick(('0', '2', '3'))} when={d.n(10**12, 10**13)} window="
            f"{d.n(0, 900000)} pkg={pkg()}"),
        ("anr", 2, lambda: f"{head('E', 'ActivityManager')} ANR in {pkg()} "
            f"({pkg()}/.{activity()})"),
    ]  # fmt: skip


def _zookeeper(d: Draw) -> list[Event]:
    def head(level: str, thread: str, where: str) -> str:
        stamp = f"{d.date()} {d.clock()},{d.n(100, 999)}"
        return f"{stamp} - {level:<5} [{thread}:{where}] -"

    def nio(where: str, level: str = "INFO") -> str:
        return head(level, "NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181", where)

    def peer() -> str:
        return f"/{d.ip()}:{d.port()}"

    def sid() -> str:
        return f"0x{d.hex(15)}"

    def state() -> str:
        return d.pick(("LOOKING", "FOLLOWING", "LEADING"))

    def at(thread: str, where: str) -> str:
        return head("INFO", thread, where)

    def warn(thread: str, where: str) -> str:
        return head("WARN", thread, where)

    def numbered(thread: str) -> str:
        return f"{thread}:{d.n(1, 5)}"

    def myid(thread: str) -> str:
        return f"{thread}[myid={d.n(1, 5)}]"

    def quorum() -> str:
        return f"{myid('QuorumPeer')}/0:0:0:0:0:0:0:0:2181"

    def processor() -> str:
        return f"ProcessThread(sid:{d.n(1, 5)} cport:-1):"

    def learner() -> str:
        return f"LearnerHandler-/{d.ip()}:{d.port()}"

    return [
        ("accepted", 25, lambda: f"{nio('NIOServerCnxnFactory@197')} Accepted "
            f"socket connection from {peer()}"),
        ("closed_session", 20, lambda: f"{nio('NIOServerCnxn@1007')} Closed socket "
            f"connection for client {peer()} which had sessionid {sid()}"),
        ("closed_no_session", 8, lambda: f"{nio('NIOServerCnxn@1007')} Closed "
            f"socket connection for client {peer()} (no session established for "
            "client)"),
        ("end_of_stream", 15, lambda: f"{nio('NIOServerCnxn@357', 'WARN')} caught "
            "end of stream exception"),
        ("expiring", 8, lambda: f"{at('SessionTracker', 'ZooKeeperServer@358')}"
            f" Expiring session {sid()}, timeout of {d.pick(('10000', '30000'))}ms "
            "exceeded"),
        ("termination", 8, lambda: f"{at(processor(), 'PrepRequestProcessor@487')}"
            f" Processed session termination for sessionid: {sid()}"),
        ("notification", 8, lambda: f"{at(myid('WorkerReceiver'), ELECTION_600)}"
            f" Notification: 1 (message format version), {d.n(1, 5)} (n.leader), "
            f"0x{d.hex(9)} (n.zxid), 0x{d.n(1, 9)} (n.round), {state()} (n.state), "
            f"{d.n(1, 5)} (n.sid), 0x{d.n(1, 9)} (n.peerEpoch) {state()} (my state)"),
        ("connection_broken", 5, lambda: f"{warn(numbered('RecvWorker'), RECEIVE)}"
            f" Connection broken for id {d.n(1, 5)}, my id = {d.n(1, 5)}, error = "),
        ("interrupted", 5, lambda: f"{warn(numbered('SendWorker'), SEND_695)}"
            " Interrupted while waiting for message on queue"),
        ("learner_exception", 3, lambda: f"{head('ERROR', learner(), LEARNER)}"
            " Unexpected exception causing shutdown while sock still open"),
        ("attempting", 8, lambda: f"{nio('ZooKeeperServer@868')} Client attempting "
            f"to establish new session at {peer()}"),
        ("established", 8, lambda: f"{at(numbered('CommitProcessor'), COMMIT)}"
            f" Established session {sid()} with negotiated timeout "
            f"{d.pick(('10000', '30000', '40000'))} for client {peer()}"),
        ("cannot_open", 5, lambda: f"{warn(myid('WorkerSender'), OPEN)}"
            f" Cannot open channel to {d.n(1, 5)} at election address "
            f"/{d.ip()}:3888"),
        ("worker_leaving", 4, lambda: f"{warn(numbered('SendWorker'), SEND_706)}"
            " Send worker leaving thread"),
        ("looking", 3, lambda: f"{at(quorum(), 'QuorumPeer@774')} LOOKING"),
        ("new_election", 3, lambda: f"{at(quorum(), ELECTION_818)}"
            f" New election. My id =  {d.n(1, 5)}, proposed zxid=0x{d.hex(9)}"),
        ("snapshot", 3, lambda: f"{at(numbered('SyncThread'), 'FileTxnSnapLog@240')}"
            f" Snapshotting: 0x{d.hex(9)} to /var/lib/zookeeper/version-2/"
            f"snapshot.{d.hex(9)}"),
    ]  # fmt: skip


def _kubelet(d: Draw) -> list[Event]:
    def head(level: str, where: str) -> str:
        month_day = f"{d.n(1, 12):0>2}{d.n(1, 28):0>2}"
        stamp = f"{month_day} {d.clock()}.{d.n(100000, 999999)}"
        return f"{level}{stamp} {d.n(500, 9000):>8} {where}]"

    def ns() -> str:
        return d.pick(("default", "kube-system", "payments", "monitoring", "search"))

    def pod() -> str:
        app = d.pick(("checkout", "cart", "catalog", "frontend", "ledger"))
        return f"{app}-{d.hex(10)}-{d.b64(5).lower().replace('/', 'x')}"

    def pods() -> str:
        return "[" + d.some(lambda: f'"{ns()}/{pod()}"', 1, 3, ",") + "]"

    def container() -> str:
        return d.pick(("app", "sidecar", "istio-proxy", "exporter", "init-db"))

    def container_id() -> str:
        return d.hex(64)

    def probe_output() -> str:
        address = f"{d.ip()}:{d.pick(('8080', '9090'))}"
        return d.pick((
            f'Get \\"http://{address}/healthz\\": dial tcp {address}: connect: '
            "connection refused",
            f"HTTP probe failed with statuscode: {d.pick(('500', '503'))}",
            f'Get \\"http://{address}/ready\\": context deadline exceeded',
        ))  # fmt: skip

    events: list[Event] = [
        ("probe_failed", 12, lambda: f"{head('I', 'prober.go:107')} \"Probe "
            f"failed\" probeType=\"{d.pick(('Liveness', 'Readiness', 'Startup'))}\" "
            f"pod=\"{ns()}/{pod()}\" podUID=\"{d.uuid()}\" containerName="
            f"\"{container()}\" probeResult=\"failure\" output=\"{probe_output()}\""),
        ("syncloop_probe", 10, lambda: f"{head('I', 'kubelet.go:2453')} \"SyncLoop "
            f"(probe)\" probe=\"{d.pick(('readiness', 'liveness'))}\" status="
            f"\"{d.pick(('ready', 'unhealthy', ''))}\" pod=\"{ns()}/{pod()}\""),
        ("error_syncing", 8, lambda: f"{head('E', 'pod_workers.go:1298')} \"Error "
            "syncing pod, skipping\" err=\"failed to \\\"StartContainer\\\" for "
            f"\\\"{container()}\\\" with CrashLoopBackOff: \\\"back-off "
            f"{d.pick(('10s', '20s', '40s', '1m20s', '2m40s', '5m0s'))} restarting "
            f"failed container={container()} pod={pod()}_{ns()}({d.uuid()})\\\"\" "
            f"pod=\"{ns()}/{pod()}\" podUID=\"{d.uuid()}\""),
        ("verify_volume", 8, lambda: f"{head('I', 'reconciler_common.go:258')} "
            "\"operationExecutor.VerifyControllerAttachedVolume started for "
            f"volume \\\"kube-api-access-{d.b64(5).lower()}\\\" (UniqueName: "
            f"\\\"kubernetes.io/projected/{d.uuid()}-kube-api-access\\\") pod "
            f"\\\"{pod()}\\\" (UID: \\\"{d.uuid()}\\\") \" pod=\"{ns()}/{pod()}\""),
        ("status_failed", 4, lambda: f"{head('E', 'remote_runtime.go:432')} "
            "\"ContainerStatus from runtime service failed\" err=\"rpc error: "
            "code = NotFound desc = an error occurred when try to find container "
            f"\\\"{container_id()}\\\": not found\" containerID="
            f"\"{container_id()}\""),
        ("remove_container", 6, lambda: f"{head('I', 'scope.go:117')} "
            f"\"RemoveContainer\" containerID=\"{container_id()}\""),
        ("sandbox_failed", 3, lambda: f"{head('E', 'kuberuntime_sandbox.go:72')} "
            "\"Failed to create sandbox for pod\" err=\"rpc error: code = Unknown "
            "desc = failed to setup network for sandbox "
            f"\\\"{container_id()}\\\": plugin type=\\\"calico\\\" failed (add): "
            "connection is unauthorized: Unauthorized\" "
            f"pod=\"{ns()}/{pod()}\""),
        ("eviction_reclaim", 3, lambda: f"{head('W', 'eviction_manager.go:369')} "
            "\"Eviction manager: attempting to reclaim\" resourceName="
            f"\"{d.pick(('memory', 'ephemeral-storage', 'nodefs.inodesFree'))}\""),
        ("eviction_ranked", 3, lambda: f"{head('I', 'eviction_manager.go:380')} "
            f"\"Eviction manager: pods ranked for eviction\" pods={pods()}"),
        ("not_ready", 2, lambda: f"{head('I', 'kubelet_node_status.go:709')} "
            f"\"Node became not ready\" node=\"{d.host()}\" condition="
            '{"type":"Ready","status":"False","reason":"KubeletNotReady",'
            '"message":"container runtime network not ready: '
            'NetworkReady=false reason:NetworkPluginNotReady"}'),
        ("no_config_path", 3, lambda: f"{head('W', 'file_linux.go:61')} \"Unable "
            "to read config path\" err=\"path does not exist, ignoring\" "
            "path=\"/etc/kubernetes/manifests\""),
        ("image_gc", 3, lambda: f"{head('I', 'image_gc_manager.go:370')} \"Disk "
            "usage on image filesystem is over the high threshold, trying to free "
            f"bytes down to the low threshold\" usage={d.n(85, 99)} "
            f"highThreshold=85 amountToFree={d.n(10**8, 10**10)} lowThreshold=80"),
        ("orphaned_pod", 4, lambda: f"{head('E', 'kubelet_volumes.go:245')} "
            "\"There were many similar errors. Turn up verbosity to see them.\" "
            f"err=\"orphaned pod \\\"{d.uuid()}\\\" found, but error not a "
            "directory occurred when trying to remove the volumes dir\" "
            f"numErrs={d.n(2, 9)}"),
    ]  # fmt: skip
    # The sync loop logs one statement per kind of pod update.
    for kind, where, weight in (
        ("ADD", "kubelet.go:2417", 10),
        ("UPDATE", "kubelet.go:2424", 15),
        ("DELETE", "kubelet.go:2430", 6),
        ("REMOVE", "kubelet.go:2433", 5),
    ):
        events.append(
            (
                f"syncloop_{kind.lower()}",
                weight,
                lambda kind=kind, where=where: (
                    f'{head("I", where)} "SyncLoop {kind}" source="api" pods={pods()}'
                ),
            )
        )
    return events


def _healthapp(d: Draw) -> list[Event]:
    def head(component: str) -> str:
        stamp = f"{d.date('')}-{d.clock()}:{d.n(100, 999)}"
        return f"{stamp}|{component}|{d.n(10**7, 10**8)}|"

    def device() -> str:
        return d.pick((
            "Mi Smart Band 7", "Forerunner 255", "Charge 5", "Inspire 3",
            "Venu Sq 2",
        ))  # fmt: skip

    def value() -> str:
        return d.pick(("metric", "imperial", "dark", "light", "true", "false"))

    return [
        ("steps", 40, lambda: f"{head('StepCounter')}onSensorChanged steps="
            f"{d.n(0, 30000)} delta={d.n(0, 40)}"),
        ("flush", 8, lambda: f"{head('StepCounter')}flush to db date={d.date('')} "
            f"total={d.n(0, 30000)} calories={d.f(0, 900)}"),
        ("hr_sample", 25, lambda: f"{head('HeartRateMonitor')}sample bpm="
            f"{d.n(45, 190)} confidence={d.f(0, 1)} "
            f"source={d.pick(('wrist', 'chest', 'manual'))}"),
        ("resting_hr", 4, lambda: f"{head('HeartRateMonitor')}resting heart rate "
            f"updated from {d.n(45, 90)} to {d.n(45, 90)}"),
        ("ble_connect", 6, lambda: f"{head('BleManager')}connect to {d.mac()} "
            f"name={device()}"),
        ("gatt_error", 5, lambda: f"{head('BleManager')}GATT error status="
            f"{d.pick(('133', '8', '19'))} on {d.mac()}, retry {d.n(1, 3)}/3"),
        ("ble_disconnected", 5, lambda: f"{head('BleManager')}disconnected from "
            f"{d.mac()} reason: "
            f"{d.pick(BLE_REASONS)}"),
        ("upload", 10, lambda: f"{head('SyncService')}upload batch id={d.uuid()} "
            f"records={d.n(1, 900)} bytes={d.n(100, 90000)} took {d.n(20, 9000)}ms"),
        ("sync_failed", 5, lambda: f"{head('SyncService')}sync failed: " + d.pick((
            "HTTP 503 Service Unavailable", "timeout after 30000ms",
            "Unable to resolve host api.example-fit.com", "token expired",
        ))),
        ("sleep", 4, lambda: f"{head('SleepAnalyzer')}session {d.date('')} "
            f"{d.clock()[:5]}-{d.clock()[:5]} deep={d.n(10, 120)}m light="
            f"{d.n(60, 300)}m rem={d.n(10, 120)}m awake={d.n(0, 60)}m "
            f"score={d.n(30, 99)}"),
        ("goal_reached", 4, lambda: f"{head('NotificationHelper')}show goal "
            f"reached notification for user {d.user()}"),
        ("setting_changed", 5, lambda: f"{head('SettingsStore')}setting "
            f"{d.pick(('units', 'theme', 'sync_wifi_only'))} changed from "
            f"{value()} to {value()}"),
        ("gps_fix", 8, lambda: f"{head('LocationTracker')}gps fix lat="
            f"{d.f(-60, 60, 5)} lon={d.f(-120, 120, 5)} acc={d.f(2, 60, 1)}m "
            f"provider={d.pick(('gps', 'network', 'fused'))}"),
        ("lifecycle", 8, lambda: f"{head('AppLifecycle')}activity "
            f"{d.pick(('MainActivity', 'WorkoutActivity', 'SettingsActivity'))} "
            f"{d.pick(('onResume', 'onPause', 'onStop'))}"),
        ("battery", 4, lambda: f"{head('PowerMonitor')}battery level "
            f"{d.n(1, 100)}% charging={d.pick(('true', 'false'))} temp="
            f"{d.f(20, 45, 1)}C"),
        ("workout_start", 4, lambda: f"{head('WorkoutSession')}start workout type="
            f"{d.pick(('RUN', 'WALK', 'CYCLE', 'SWIM'))} id={d.uuid()}"),
        ("workout_end", 4, lambda: f"{head('WorkoutSession')}end workout id="
            f"{d.uuid()} duration={d.n(60, 9000)}s distance={d.f(0.1, 40)}km "
            f"avg_hr={d.n(80, 180)}"),
    ]  # fmt: skip


def _proxy(d: Draw) -> list[Event]:
    def stamp() -> str:
        day = f"{d.n(10, 28)}/{d.pick(MONTHS)}/2024"
        return f"[{day}:{d.clock()}.{d.n(100, 999)}]"

    def frontend() -> str:
        return d.pick(("www-https~", "api-gateway", "admin-in"))

    def server() -> str:
        return f"{d.pick(('be_api', 'be_static', 'be_auth'))}/app{d.n(1, 6)}"

    def timers(count: int) -> str:
        return "/".join(d.n(0, 900) for _ in range(count))

    def http() -> str:
        request = f"{d.pick(('GET', 'GET', 'POST'))} {d.web_path()} HTTP/1.1"
        flags = d.pick(("----", "----", "--VN", "SC--", "CD--"))
        return (
            f"{d.ip()}:{d.port()} {stamp()} {frontend()} {server()} {timers(5)} "
            f"{d.pick(('200', '200', '302', '404', '503'))} {d.n(100, 90000)} - - "
            f'{flags} {timers(5)} {timers(2)} "{request}"'
        )

    def down_reason() -> str:
        return d.pick((
            'Layer4 connection problem, info: "Connection refused"',
            "Layer4 timeout", "Layer7 wrong status, code: 503",
        ))  # fmt: skip

    return [
        ("http", 60, http),
        ("tcp", 15, lambda: f"{d.ip()}:{d.port()} {stamp()} "
            f"{d.pick(('db-in', 'redis-in'))} "
            f"{d.pick(('be_db', 'be_cache'))}/{d.pick(('pg', 'redis'))}{d.n(1, 3)} "
            f"{timers(3)} {d.n(100, 900000)} -- {timers(5)} {timers(2)}"),
        ("server_down", 8, lambda: f"Server {server()} is DOWN, reason: "
            f"{down_reason()}, check duration: {d.n(0, 3000)}ms. {d.n(0, 5)} "
            f"active and {d.n(0, 2)} backup servers left. {d.n(0, 90)} sessions "
            f"active, {d.n(0, 9)} requeued, {d.n(0, 9)} remaining in queue."),
        ("server_up", 6, lambda: f"Server {server()} is UP, reason: Layer7 check "
            f"passed, code: 200, check duration: {d.n(0, 300)}ms. {d.n(1, 6)} "
            f"active and {d.n(0, 2)} backup servers online. {d.n(0, 9)} sessions "
            f"requeued, {d.n(0, 9)} total in queue."),
        ("no_server", 4, lambda: f"backend {d.pick(('be_api', 'be_static', 'be_auth'))}"
            " has no server available!"),
        ("proxy_started", 3, lambda: f"Proxy {frontend()} started."),
        ("stopping", 3, lambda: f"Stopping {d.pick(('frontend', 'backend'))} "
            f"{d.pick(('www-https', 'be_api', 'api-gateway'))} in {d.n(0, 9)} ms."),
        ("stopped", 3, lambda: f"Proxy {d.pick(('www-https', 'api-gateway'))} "
            f"stopped (cumulated conns: FE: {d.n(0, 10**6)}, BE: {d.n(0, 10**6)})."),
        ("ssl_failure", 8, lambda: f"{d.ip()}:{d.port()} {stamp()} "
            f"{frontend()}/{d.ip()}:443: SSL handshake failure"),
        ("health_failed", 6, lambda: f"Health check for server {server()} failed, "
            f"reason: {down_reason()}, check duration: {d.n(0, 3000)}ms, status: "
            f"{d.n(0, 2)}/{d.n(2, 3)} {d.pick(('DOWN', 'UP'))}."),
        ("health_ok", 5, lambda: f"Health check for server {server()} succeeded, "
            f"reason: Layer7 check passed, code: 200, check duration: "
            f"{d.n(0, 300)}ms, status: {d.n(1, 3)}/3 UP."),
        ("fd_limit", 3, lambda: f"Proxy {frontend()} reached process FD limit "
            f"(maxsock={d.n(1000, 90000)}). Please check 'ulimit-n' and restart."),
        ("missing_timeouts", 3, lambda: f"[WARNING]  ({d.n(1, 9)}) : config : "
            f"missing timeouts for {d.pick(('frontend', 'backend'))} "
            f"'{d.pick(('www-https', 'be_api', 'stats'))}'."),
        ("worker_forked", 3, lambda: f"[NOTICE]   ({d.n(1, 9)}) : New worker "
            f"({d.n(1000, 90000)}) forked"),
        ("loading_success", 3, lambda: f"[NOTICE]   ({d.n(1, 9)}) : Loading "
            "success."),
    ]  # fmt: skip


# System name, events, number of lines. The seeds are the list positions.
SYSTEMS: tuple[tuple[str, Callable[[Draw], list[Event]], int], ...] = (
    ("hdfs", _hdfs, 240),
    ("linux", _linux, 200),
    ("apache", _apache, 220),
    ("openssh", _openssh, 260),
    ("openstack", _openstack, 240),
    ("spark", _spark, 220),
    ("cbs", _cbs, 200),
    ("scheduler", _scheduler, 220),
    ("nginx", _nginx, 240),
    ("android", _android, 200),
    ("zookeeper", _zookeeper, 220),
    ("kubelet", _kubelet, 200),
    ("healthapp", _healthapp, 240),
    ("proxy", _proxy, 220),
)


def draw_lines(
    events: list[Event], count: int, rng: random.Random
) -> list[tuple[str, str]]:
    """Two lines of every group, the rest by weight, in random order."""
    labels = [label for label, _, _ in events for _ in range(2)]
    weights = [weight for _, weight, _ in events]
    labels += rng.choices(
        [label for label, _, _ in events], weights, k=count - len(labels)
    )
    rng.shuffle(labels)
    makers = {label: make for label, _, make in events}
    return [(makers[label](), label) for label in labels]


def main() -> None:
    """Write every system's CSV next to this file."""
    for seed, (name, events, count) in enumerate(SYSTEMS):
        draw = Draw(seed)
        rows = draw_lines(events(draw), count, draw.rng)
        with (HERE / f"{name}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("line", "group"))
            writer.writerows(rows)


if __name__ == "__main__":
    main()
