package io.zerohop.core;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real DNS server on UDP (Netty's DNS codec), as {@link OnDemandDnsTest} runs one, for the tests that point a mesh at
 * it ({@link Mesh.Builder#dnsServers}): A and AAAA answers from {@link #zone}, NXDOMAIN for a name it lacks.
 */
final class TestDnsServer implements AutoCloseable {
    /** name (with the final dot) → its records; a name not here is NXDOMAIN, one with no records NOERROR and empty. */
    final Map<String, List<InetAddress>> zone = new ConcurrentHashMap<>();
    final AtomicInteger queries = new AtomicInteger();
    final InetSocketAddress address;
    private final EventLoopGroup loop;
    private final Channel channel;

    TestDnsServer(InetSocketAddress bind) throws InterruptedException {
        address = bind;
        loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        channel = new Bootstrap().group(loop).channel(NioDatagramChannel.class)
                .handler(new ChannelInitializer<DatagramChannel>() {
                    @Override
                    protected void initChannel(DatagramChannel ch) {
                        ch.pipeline().addLast(new DatagramDnsQueryDecoder(), new DatagramDnsResponseEncoder(),
                                new SimpleChannelInboundHandler<DatagramDnsQuery>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery q) {
                                        ctx.writeAndFlush(answer(q));
                                    }
                                });
                    }
                }).bind(bind).sync().channel();
    }

    private DatagramDnsResponse answer(DatagramDnsQuery q) {
        queries.incrementAndGet();
        DnsQuestion question = q.recordAt(DnsSection.QUESTION);
        List<InetAddress> records = zone.get(question.name().toLowerCase());
        DatagramDnsResponse r = new DatagramDnsResponse(q.recipient(), q.sender(), q.id());
        r.setRecursionDesired(q.isRecursionDesired()).setRecursionAvailable(true);
        r.addRecord(DnsSection.QUESTION, question);
        if (records == null) {
            return r.setCode(DnsResponseCode.NXDOMAIN);
        }
        for (InetAddress a : records) {
            boolean v6 = a instanceof java.net.Inet6Address;
            if (question.type() == (v6 ? DnsRecordType.AAAA : DnsRecordType.A)) {
                r.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(), question.type(), 60,
                        Unpooled.wrappedBuffer(a.getAddress())));
            }
        }
        return r;
    }

    @Override
    public void close() throws InterruptedException {
        channel.close().sync();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
}
