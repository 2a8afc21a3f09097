package io.zerohop.kubernetes;

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
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A DNS server on a loopback UDP address (Netty's DNS codec) answering A records from {@link #zone} (name with its final
 * dot), NXDOMAIN for a name it lacks: what a test points {@code Mesh.Builder.dnsServers} at.
 */
final class LoopbackDns implements AutoCloseable {
    final Map<String, InetAddress> zone = new ConcurrentHashMap<>();
    private final EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel channel;

    LoopbackDns(InetSocketAddress at) throws InterruptedException {
        channel = new Bootstrap().group(loop).channel(NioDatagramChannel.class).handler(new ChannelInitializer<DatagramChannel>() {
            @Override
            protected void initChannel(DatagramChannel ch) {
                ch.pipeline().addLast(new DatagramDnsQueryDecoder(), new DatagramDnsResponseEncoder(),
                        new SimpleChannelInboundHandler<DatagramDnsQuery>() {
                            @Override
                            protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery q) {
                                DnsQuestion question = q.recordAt(DnsSection.QUESTION);
                                InetAddress a = zone.get(question.name().toLowerCase());
                                DatagramDnsResponse r = new DatagramDnsResponse(q.recipient(), q.sender(), q.id());
                                r.addRecord(DnsSection.QUESTION, question);
                                if (a == null) {
                                    r.setCode(DnsResponseCode.NXDOMAIN);
                                } else if (question.type() == DnsRecordType.A && a instanceof Inet4Address) {
                                    r.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(), DnsRecordType.A, 60,
                                            Unpooled.wrappedBuffer(a.getAddress())));
                                }
                                ctx.writeAndFlush(r);
                            }
                        });
            }
        }).bind(at).sync().channel();
    }

    @Override
    public void close() throws InterruptedException {
        channel.close().sync();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
}
