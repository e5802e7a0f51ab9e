# Shared by the benchmarks on the demo stack (bench/backup.sh, bench/upgrade.sh): messages
# posted through the Rocket.Chat simulator's REST API, and the front door's poller (the demo has
# no nginx: Rocket.Chat's /api/info at its container's address, every 50 ms). Source it.

# post_messages PROJECT COUNT: posts COUNT messages in #devops as the admin, on one kept-alive
# connection.
post_messages() {
python3 - "$1" "$2" <<'EOF'
import http.client, json, subprocess, sys
project, count = sys.argv[1], int(sys.argv[2])
ip = subprocess.check_output(["docker", "inspect", "-f",
    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", f"{project}-rocketchat-1"], text=True).strip()
c = http.client.HTTPConnection(ip, 3000, timeout=10)
def call(method, path, body=None, headers={}):
    c.request(method, path, json.dumps(body) if body else None, {"Content-Type": "application/json", **headers})
    r = c.getresponse(); data = r.read()
    if r.status != 200: raise SystemExit(f"{path}: {r.status} {data[:200]!r}")
    return json.loads(data)
login = call("POST", "/api/v1/login", {"user": "admin", "password": "bench-admin-pass"})["data"]
auth = {"X-User-Id": login["userId"], "X-Auth-Token": login["authToken"]}
for i in range(count):
    call("POST", "/api/v1/chat.postMessage", {"channel": "#devops", "text": f"bench message {i}"}, auth)
print(f"posted {count} messages", file=sys.stderr)
EOF
}

# poll_front_door PROJECT: one line per probe on stdout, "<unix time> <0|1>"; run it in the
# background (`poll_front_door P >FILE & poller=$!`: the subshell execs python, so killing
# $poller ends it) and kill it at the end.
poll_front_door() {
exec python3 - "$1" <<'EOF'
import subprocess, sys, time, urllib.request
project = sys.argv[1]; ip = None
while True:
    ok = 0
    try:
        if ip is None:
            ip = subprocess.check_output(["docker", "inspect", "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", f"{project}-rocketchat-1"],
                text=True, stderr=subprocess.DEVNULL).strip() or None
        if ip:
            urllib.request.urlopen(f"http://{ip}:3000/api/info", timeout=0.5).read(); ok = 1
    except Exception:
        ip = None
    print(f"{time.time():.3f} {ok}", flush=True)
    time.sleep(0.05)
EOF
}

# downtime FROM TO POLLS: seconds the front door did not answer between two unix times (the sum
# of the unanswered gaps in the poller's file).
downtime() {
  awk -v a="$1" -v b="$2" '$1>=a && $1<=b { if ($2==0 && down=="") down=$1; if ($2==1 && down!="") { t+=$1-down; down="" } }
    END { if (down!="") t+=b-down; printf "%.2f", t }' "$3"
}

# median: the median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
