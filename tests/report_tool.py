#!/usr/bin/env python3
"""The multicast chat of the lab report (section 1.2), as a test peer: plain UTF-8 datagrams on a
group, with the sockets set up as the report does. For tests it is pointed at loopback:
IP_MULTICAST_IF 127.0.0.1 and TTL 0 instead of the host's address and TTL 20.

    report_tool.py send GROUP PORT TEXT...     send each TEXT as one datagram
    report_tool.py receive GROUP PORT COUNT    print COUNT received datagrams, one per line
"""
import socket
import sys


def open_socket(group, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except AttributeError:
        pass
    s.setsockopt(socket.SOL_IP, socket.IP_MULTICAST_TTL, 0)
    s.setsockopt(socket.SOL_IP, socket.IP_MULTICAST_LOOP, 1)
    s.bind(('', port))
    s.setsockopt(socket.SOL_IP, socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1'))
    s.setsockopt(socket.SOL_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(group) + socket.inet_aton('127.0.0.1'))
    return s


def main():
    mode, group, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = open_socket(group, port)
    if mode == 'send':
        for text in sys.argv[4:]:
            s.sendto(text.encode('utf-8'), (group, port))
    else:
        s.settimeout(20)
        print('ready', flush=True)
        for _ in range(int(sys.argv[4])):
            data, _sender = s.recvfrom(1024)
            print(data.decode('utf-8', 'replace'), flush=True)
    s.setsockopt(socket.SOL_IP, socket.IP_DROP_MEMBERSHIP,
                 socket.inet_aton(group) + socket.inet_aton('127.0.0.1'))
    s.close()


if __name__ == '__main__':
    main()
