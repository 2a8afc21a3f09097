package io.zerohop.cli.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Pcap#streams}: the end-to-end tests' TCP reassembly, on segments in the orders a capture can hold them. */
class PcapTest {
    static final long ISN = 0xfffffff0L; // the sequence numbers wrap past 2^32 inside the stream

    static Pcap.Packet seg(long offset, String text) throws Exception {
        return new Pcap.Packet(InetAddress.getByName("10.0.0.1"), 40000, InetAddress.getByName("10.0.0.2"), 15008,
                (ISN + 1 + offset) & 0xffffffffL, 0x18, text.getBytes(StandardCharsets.US_ASCII));
    }

    static Pcap.Stream only(Pcap.Packet... packets) throws Exception {
        List<Pcap.Packet> all = new java.util.ArrayList<>();
        all.add(new Pcap.Packet(InetAddress.getByName("10.0.0.1"), 40000, InetAddress.getByName("10.0.0.2"), 15008, ISN, 0x02, new byte[0]));
        all.addAll(List.of(packets));
        List<Pcap.Stream> streams = new Pcap(new byte[0], all).streams(p -> true);
        assertThat(streams).hasSize(1);
        return streams.get(0);
    }

    @Test
    void segmentsAheadWaitForTheBytesBeforeThem() throws Exception {
        Pcap.Stream s = only(seg(0, "hello "), seg(11, "!"), seg(6, "world"), seg(3, "lo wo"));
        assertThat(new String(s.bytes(), StandardCharsets.US_ASCII)).isEqualTo("hello world!");
        assertThat(s.gap()).isFalse();
    }

    @Test
    void aSegmentNeverCapturedStopsTheBytesAndIsAGap() throws Exception {
        Pcap.Stream s = only(seg(0, "hello "), seg(11, "!"));
        assertThat(new String(s.bytes(), StandardCharsets.US_ASCII)).isEqualTo("hello ");
        assertThat(s.gap()).isTrue();
    }
}
