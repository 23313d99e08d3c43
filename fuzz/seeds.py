#!/usr/bin/env python3
"""Writes the hand-made starting inputs of each fuzz target into fuzz/corpus/TARGET/.

The scripts follow the step formats that src/fuzzing.rs documents."""
import pathlib
import struct

root = pathlib.Path(__file__).resolve().parent / "corpus"


def chunk(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def long_chunk(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def mchat(kind: int, sender: int, seq: int, nick: bytes, body: bytes) -> bytes:
    return b"LMC\x01" + bytes([kind, 0]) + struct.pack(">QIQ", sender, seq, 1_800_000_000_000) + chunk(nick) + body


def server_step(kind: int, conn: int) -> bytes:
    return bytes([kind | conn << 2])


seeds = {
    "irc_line": [
        "@time=2026-01-01T00:00:00.000Z;msgid=a\\sb :alice!a@h PRIVMSG #lobby :hello 世界".encode(),
        b"PING :lanmeet.local",
        b":srv 353 me = #lobby :@alice bob\r\n:srv 366 me #lobby :End\r\n",
    ],
    "irc_server": [
        server_step(0, 0)
        + server_step(1, 0)
        + long_chunk(b"CAP LS 302\r\nNICK alice\r\nUSER a 0 * :Alice\r\nCAP REQ :echo-message server-time message-tags\r\nCAP END\r\nJOIN #lobby\r\n")
        + server_step(0, 1)
        + server_step(1, 1)
        + long_chunk("NICK bob\r\nUSER b 0 * :Bob\r\nJOIN #lobby,#x\r\nPRIVMSG #lobby :hi 你好\r\n".encode())
        + server_step(1, 0)
        + long_chunk(b"NAMES #lobby\r\nWHO #lobby\r\nTOPIC #lobby :plans\r\nNICK alice2\r\nPART #lobby\r\nQUIT :bye\r\n")
        + server_step(3, 0) + b"\xff"
        + server_step(2, 1),
    ],
    "irc_client": [
        b"\x00"
        + long_chunk(b":srv CAP * LS :echo-message server-time\r\n:srv CAP * ACK :echo-message server-time\r\n:srv 001 me :Welcome\r\n"
                     b":me!u@h JOIN #lobby\r\n:srv 353 me = #lobby :@me bob\r\n:srv 366 me #lobby :End\r\n"
                     b"@time=2026-01-01T00:00:00.000Z :bob!u@h PRIVMSG #lobby :hi\r\n")
        + b"\x01" + long_chunk("hello 世界".encode())
        + b"\x02\x64"
        + b"\x03"
        + b"\x00" + long_chunk(b":srv 433 * me :Nickname is already in use\r\n:srv 001 me_ :Welcome\r\n")
        + b"\x04" + chunk(b"bye"),
    ],
    "mchat_datagram": [
        mchat(1, 7, 1, "张三".encode(), b"\x00\x01" + "你好".encode()),
        mchat(2, 7, 9, b"bob", b""),
        mchat(4, 7, 9, b"bob", struct.pack(">QII", 8, 3, 4)),
        mchat(5, 7, 3, b"bob", b"\x01\x02tail"),
    ],
    "mchat_peer": [
        # honest says, a lost one, time, a forged announce claiming a far sequence number,
        # a forged repair request for the honest peer, raw bytes.
        b"\x03\x04\x05\x10\x03"
        + b"\x09\x07" + b"\xff\xff\xff\xfe"
        + b"\x09\x97\x05\x02" + b"\x00\x01\x00\x02"
        + b"\x08" + long_chunk(mchat(1, 9, 0, b"x", b"\x00\x03abc"))
        + b"\x05\xff\x03",
    ],
    "rtp": [
        # a single NAL, a FU-A start and end, with the marker bit
        b"\x09\x03" + long_chunk(b"\x67\x42\xe0\x1f\xda\x02\x80\xf6\x80\x6d\x0a\x13\x50")
        + b"\x11\x00" + long_chunk(b"\x68\xce\x06\xe2")
        + b"\x11\x00" + long_chunk(b"\x7c\x85" + b"\x88" * 40)
        + b"\x11\x02" + long_chunk(b"\x7c\x45" + b"\x99" * 40),
    ],
    "video_session": [
        # a built packet from host 2 (a keyframe's SPS), an RTCP sender report and SDES from
        # the same host, a BYE from another, then time.
        bytes([2 | 2 << 2 | 1 << 5, 0x10]) + chunk(b"\x67\x42\xe0\x1f\xda\x02\x80\xf6\x80\x6d\x0a\x13\x50")
        + bytes([2 | 2 << 2 | 1 << 5, 0x31]) + chunk(b"\x41\x9a" + b"\x00" * 30)
        + bytes([1 | 2 << 2]) + long_chunk(bytes.fromhex("80c80006" "00000001" "e0000000" "00000000" "00001000" "00000010" "00000400")
                                           + bytes.fromhex("81ca0003" "00000001" "0103" "616263" "000000"))
        + bytes([1 | 3 << 2]) + long_chunk(bytes.fromhex("81cb0001" "00000001"))
        + bytes([3, 0x40]),
    ],
    "rtcp": [
        # sender report with one block, then SDES CNAME
        bytes.fromhex("81c8000c" "00000007" "e0000000" "00000000" "00001000" "00000010" "00000400"
                      "00000008" "01000002" "00000010" "00000004" "00000000" "00000000")
        + bytes.fromhex("81ca0003" "00000007" "0103" "616263" "000000"),
    ],
    "sdp": [long_chunk("张三's call\r\na=evil".encode()) + b"\x13\x88" + b"\x01" + b"\x13\x86" + b"\x60" + b"\x00\x00\x00\x01"],
    "jitter": [
        b"".join(bytes([(17 << 1), 20]) + struct.pack(">I", 960 * i) + chunk(b"opus") + b"\x01" for i in range(20)),
    ],
}

for target, inputs in seeds.items():
    folder = root / target
    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(inputs):
        (folder / f"seed-{i}").write_bytes(data)
