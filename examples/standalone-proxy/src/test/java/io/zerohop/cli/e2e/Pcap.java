package io.zerohop.cli.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Just enough of a pcap reader for the wire assertions: IPv4/TCP packets of an Ethernet capture
 * (tcpdump on a veth), TCP streams reassembled in order, and TLS records listed from a stream. A
 * capture that tcpdump is still writing is read up to its last complete record.
 */
final class Pcap {
    record Packet(InetAddress src, int sport, InetAddress dst, int dport, long seq, int flags, byte[] payload) {
        boolean syn() {
            return (flags & 0x02) != 0;
        }

        String flow() {
            return src.getHostAddress() + ":" + sport + ">" + dst.getHostAddress() + ":" + dport;
        }

        boolean involves(String address) {
            return src.getHostAddress().equals(address) || dst.getHostAddress().equals(address);
        }

        boolean involvesPrefix(String prefix) {
            return src.getHostAddress().startsWith(prefix) || dst.getHostAddress().startsWith(prefix);
        }

        boolean port(int p) {
            return sport == p || dport == p;
        }

        @Override
        public String toString() {
            return flow() + " flags=0x" + Integer.toHexString(flags) + " len=" + payload.length;
        }
    }

    /** One direction of a TCP connection, in sequence order. */
    record Stream(String flow, byte[] bytes, boolean gap) {}

    /** A TLS record: content type, length and its first bytes (up to 4 KiB). */
    record TlsRecord(int type, int length, byte[] firstBytes) {}

    final byte[] raw;
    final List<Packet> packets;

    Pcap(byte[] raw, List<Packet> packets) {
        this.raw = raw;
        this.packets = packets;
    }

    static Pcap read(Path file) throws IOException {
        byte[] raw = Files.readAllBytes(file);
        List<Packet> out = new ArrayList<>();
        if (raw.length < 24) {
            return new Pcap(raw, out);
        }
        ByteBuffer b = ByteBuffer.wrap(raw);
        int magic = b.order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
            b.order(ByteOrder.BIG_ENDIAN);
            magic = b.getInt(0);
            if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
                throw new IOException(file + " is not a pcap file (magic " + Integer.toHexString(magic) + ")");
            }
        }
        int linkType = b.getInt(20);
        if (linkType != 1) {
            throw new IOException(file + ": link type " + linkType + ", expected Ethernet (1)");
        }
        int pos = 24;
        while (pos + 16 <= raw.length) {
            int incl = b.getInt(pos + 8);
            if (incl < 0 || pos + 16 + incl > raw.length) {
                break; // tcpdump is still writing this record
            }
            Packet p = parseEthernet(Arrays.copyOfRange(raw, pos + 16, pos + 16 + incl));
            if (p != null) {
                out.add(p);
            }
            pos += 16 + incl;
        }
        return new Pcap(raw, out);
    }

    private static Packet parseEthernet(byte[] f) throws IOException {
        if (f.length >= 14 + 40 && (f[12] & 0xff) == 0x86 && (f[13] & 0xff) == 0xdd) {
            return parseIpv6(f);
        }
        if (f.length < 14 + 20 || (f[12] & 0xff) != 0x08 || f[13] != 0x00) {
            return null; // not IPv4 (ARP...)
        }
        int ip = 14;
        int ihl = (f[ip] & 0x0f) * 4;
        int total = ((f[ip + 2] & 0xff) << 8) | (f[ip + 3] & 0xff);
        int end = total == 0 ? f.length : Math.min(f.length, ip + total);
        if ((f[ip + 9] & 0xff) != 6 || ip + ihl + 20 > end) {
            return null;
        }
        InetAddress src = InetAddress.getByAddress(Arrays.copyOfRange(f, ip + 12, ip + 16));
        InetAddress dst = InetAddress.getByAddress(Arrays.copyOfRange(f, ip + 16, ip + 20));
        return tcp(f, ip + ihl, end, src, dst);
    }

    /** IPv6 whose next header is TCP (no extension headers: neither end here sends any); else null (neighbour discovery...). */
    private static Packet parseIpv6(byte[] f) throws IOException {
        int ip = 14;
        int payloadLength = ((f[ip + 4] & 0xff) << 8) | (f[ip + 5] & 0xff);
        int end = Math.min(f.length, ip + 40 + payloadLength);
        if ((f[ip + 6] & 0xff) != 6 || ip + 40 + 20 > end) {
            return null;
        }
        InetAddress src = InetAddress.getByAddress(Arrays.copyOfRange(f, ip + 8, ip + 24));
        InetAddress dst = InetAddress.getByAddress(Arrays.copyOfRange(f, ip + 24, ip + 40));
        return tcp(f, ip + 40, end, src, dst);
    }

    private static Packet tcp(byte[] f, int t, int end, InetAddress src, InetAddress dst) {
        int sport = ((f[t] & 0xff) << 8) | (f[t + 1] & 0xff);
        int dport = ((f[t + 2] & 0xff) << 8) | (f[t + 3] & 0xff);
        long seq = ByteBuffer.wrap(f, t + 4, 4).getInt() & 0xffffffffL;
        int doff = ((f[t + 12] & 0xf0) >> 4) * 4;
        int flags = f[t + 13] & 0xff;
        byte[] payload = t + doff <= end ? Arrays.copyOfRange(f, t + doff, end) : new byte[0];
        return new Packet(src, sport, dst, dport, seq, flags, payload);
    }

    /** Does the capture contain {@code needle} anywhere (headers, payloads)? */
    boolean contains(byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= raw.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (raw[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    /** TCP payload bytes of the packets matching {@code from} → {@code to} ports. */
    long payloadBytes(java.util.function.Predicate<Packet> which) {
        return packets.stream().filter(which).mapToLong(p -> p.payload().length).sum();
    }

    /**
     * Every direction of every TCP connection matching {@code which}, reassembled from its SYN on. A segment
     * captured ahead of one it follows (the capture can interleave CPUs) waits until the bytes before it arrive;
     * {@link Stream#gap} says that some never did (a packet the capture dropped), and the bytes stop there.
     */
    List<Stream> streams(java.util.function.Predicate<Packet> which) {
        Map<String, long[]> next = new LinkedHashMap<>();
        Map<String, ByteArrayOutputStream> data = new LinkedHashMap<>();
        Map<String, java.util.TreeMap<Long, byte[]>> ahead = new LinkedHashMap<>();
        for (Packet p : packets) {
            if (!which.test(p)) {
                continue;
            }
            String k = p.flow();
            if (p.syn()) {
                next.put(k, new long[] {(p.seq() + 1) & 0xffffffffL, 0});
                data.put(k, new ByteArrayOutputStream());
                ahead.put(k, new java.util.TreeMap<>());
                continue;
            }
            long[] n = next.get(k);
            if (n == null || p.payload().length == 0) {
                continue; // began before the capture, or a bare ACK
            }
            // n[1]: bytes written so far; a segment's place is its distance from the next expected byte (modulo 2^32).
            long at = n[1] + (int) (p.seq() - n[0]);
            ahead.get(k).merge(at, p.payload(), (a, b) -> a.length >= b.length ? a : b);
            for (Map.Entry<Long, byte[]> e; (e = ahead.get(k).firstEntry()) != null && e.getKey() <= n[1]; ) {
                ahead.get(k).pollFirstEntry();
                int skip = (int) (n[1] - e.getKey());
                if (skip < e.getValue().length) {
                    data.get(k).write(e.getValue(), skip, e.getValue().length - skip);
                    n[0] = (n[0] + e.getValue().length - skip) & 0xffffffffL;
                    n[1] += e.getValue().length - skip;
                }
            }
        }
        List<Stream> out = new ArrayList<>();
        data.forEach((k, v) -> out.add(new Stream(k, v.toByteArray(), !ahead.get(k).isEmpty())));
        return out;
    }

    /** The TLS records of a stream (an incomplete last record is listed with what was captured). */
    static List<TlsRecord> tlsRecords(byte[] stream) {
        List<TlsRecord> out = new ArrayList<>();
        int pos = 0;
        while (pos + 5 <= stream.length) {
            int type = stream[pos] & 0xff;
            int len = ((stream[pos + 3] & 0xff) << 8) | (stream[pos + 4] & 0xff);
            int end = Math.min(stream.length, pos + 5 + len);
            // Enough of each record for a whole ServerHello: a hybrid post-quantum key share
            // (X25519MLKEM768, 1120 bytes) can come before supported_versions.
            out.add(new TlsRecord(type, len, Arrays.copyOfRange(stream, pos + 5, Math.min(end, pos + 5 + 4096))));
            pos += 5 + len;
        }
        return out;
    }

    /**
     * The TLS version a ServerHello record selects: its supported_versions extension (TLS 1.3,
     * 0x0304), else its legacy version; -1 when the record is not a ServerHello.
     */
    static int serverHelloVersion(TlsRecord r) {
        byte[] h = r.firstBytes();
        if (r.type() != 22 || h.length < 4 + 2 + 32 + 1 || h[0] != 2) {
            return -1;
        }
        int pos = 4;
        int legacy = ((h[pos] & 0xff) << 8) | (h[pos + 1] & 0xff);
        pos += 2 + 32;
        pos += 1 + (h[pos] & 0xff); // session id
        pos += 2 + 1; // cipher suite, compression
        if (pos + 2 > h.length) {
            return legacy;
        }
        int extEnd = Math.min(h.length, pos + 2 + (((h[pos] & 0xff) << 8) | (h[pos + 1] & 0xff)));
        pos += 2;
        while (pos + 4 <= extEnd) {
            int type = ((h[pos] & 0xff) << 8) | (h[pos + 1] & 0xff);
            int len = ((h[pos + 2] & 0xff) << 8) | (h[pos + 3] & 0xff);
            if (type == 0x002b && len == 2 && pos + 6 <= extEnd) {
                return ((h[pos + 4] & 0xff) << 8) | (h[pos + 5] & 0xff);
            }
            pos += 4 + len;
        }
        return legacy;
    }
}
