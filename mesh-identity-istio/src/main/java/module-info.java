/**
 * The Istio CA client ({@link io.zerohop.identity.istio.IstioCaClient}), in its own module so
 * that only its users depend on gRPC and protobuf.
 */
module io.zerohop.identity.istio {
    requires transitive io.zerohop.identity;
    requires com.google.protobuf;
    requires io.grpc;
    requires io.grpc.netty.shaded;
    requires io.grpc.stub;
    requires org.slf4j;

    exports io.zerohop.identity.istio;
}
