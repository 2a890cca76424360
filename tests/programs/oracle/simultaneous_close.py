"""Both sides shut down writing at the same moment, on new ports until the
FINs cross (they do within a few tries on two cores)."""
import subprocess
import threading
import time

from common import PORT, pair

for port in range(PORT, PORT + 8):
    c, s = pair(port)
    both = threading.Barrier(2)

    def shut(sock):
        both.wait()
        sock.shutdown(2 - 1)  # SHUT_WR

    ts = [threading.Thread(target=shut, args=(x,)) for x in (c, s)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(0.05)
    c.close()
    s.close()
    tw = subprocess.run(["ss", "-tanH", "state", "time-wait", f"( sport = :{port} )"],
                        capture_output=True, text=True).stdout.split("\n")
    if len([l for l in tw if l.strip()]) == 2:
        break
