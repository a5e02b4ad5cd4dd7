"""The tiny profile never opens a network connection: run it in a subprocess with sockets blocked."""
import subprocess
import sys
import textwrap


def test_tiny_profile_opens_no_socket():
    code = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise RuntimeError("network access attempted")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import tmml_lite
        from tmml_lite import load_clip, zeroshot_accuracy
        backbone = load_clip()
        assert backbone.name == tmml_lite.TINY_MODEL, backbone.name
        acc = zeroshot_accuracy(backbone, "colors", split="val")
        print("ok", acc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**__import__("os").environ, "TMML_PROFILE": "tiny"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok" in result.stdout
