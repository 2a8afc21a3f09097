package io.zerohop.identity.istio.internal;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Struct;
import com.google.protobuf.WireFormat;
import io.grpc.MethodDescriptor;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The two messages of Istio's {@code istio.v1.auth.IstioCertificateService} (istio/api
 * security/v1alpha1/ca.proto), encoded by hand so the build needs no protoc:
 *
 * <pre>
 * message IstioCertificateRequest  { string csr = 1; int64 validity_duration = 3; google.protobuf.Struct metadata = 4; }
 * message IstioCertificateResponse { repeated string cert_chain = 1; Roots root_cert = 2; }
 * message Roots                    { repeated string ca_cert = 1; }
 * </pre>
 *
 * Unknown fields are skipped, as protobuf requires, so newer servers stay readable.
 */
public final class IstioCaMessages {
    public static final String SERVICE = "istio.v1.auth.IstioCertificateService";

    private IstioCaMessages() {}

    /** @param metadata {@code null} when absent */
    public record CertificateRequest(String csr, long validityDurationSeconds, Struct metadata) {}

    /** @param rootCerts the newer {@code root_cert.ca_cert} field; empty from servers that predate it */
    public record CertificateResponse(List<String> certChain, List<String> rootCerts) {
        public CertificateResponse {
            certChain = List.copyOf(certChain);
            rootCerts = List.copyOf(rootCerts);
        }
    }

    public static final MethodDescriptor.Marshaller<CertificateRequest> REQUEST = new Codec<>() {
        @Override
        void write(CertificateRequest m, CodedOutputStream out) throws IOException {
            if (!m.csr().isEmpty()) {
                out.writeString(1, m.csr());
            }
            if (m.validityDurationSeconds() != 0) {
                out.writeInt64(3, m.validityDurationSeconds());
            }
            if (m.metadata() != null) {
                out.writeMessage(4, m.metadata());
            }
        }

        @Override
        CertificateRequest read(CodedInputStream in) throws IOException {
            String csr = "";
            long validity = 0;
            Struct metadata = null;
            for (int tag; (tag = in.readTag()) != 0; ) {
                switch (tag) {
                    case (1 << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED -> csr = in.readStringRequireUtf8();
                    case (3 << 3) | WireFormat.WIRETYPE_VARINT -> validity = in.readInt64();
                    case (4 << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED -> metadata = Struct.parseFrom(in.readBytes());
                    default -> in.skipField(tag);
                }
            }
            return new CertificateRequest(csr, validity, metadata);
        }
    };

    public static final MethodDescriptor.Marshaller<CertificateResponse> RESPONSE = new Codec<>() {
        @Override
        void write(CertificateResponse m, CodedOutputStream out) throws IOException {
            for (String c : m.certChain()) {
                out.writeString(1, c);
            }
            if (!m.rootCerts().isEmpty()) {
                ByteArrayOutputStream roots = new ByteArrayOutputStream();
                CodedOutputStream r = CodedOutputStream.newInstance(roots);
                for (String c : m.rootCerts()) {
                    r.writeString(1, c);
                }
                r.flush();
                out.writeByteArray(2, roots.toByteArray());
            }
        }

        @Override
        CertificateResponse read(CodedInputStream in) throws IOException {
            List<String> chain = new ArrayList<>();
            List<String> roots = new ArrayList<>();
            for (int tag; (tag = in.readTag()) != 0; ) {
                switch (tag) {
                    case (1 << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED -> chain.add(in.readStringRequireUtf8());
                    case (2 << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED -> {
                        CodedInputStream r = in.readBytes().newCodedInput();
                        for (int t; (t = r.readTag()) != 0; ) {
                            if (t == ((1 << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED)) {
                                roots.add(r.readStringRequireUtf8());
                            } else {
                                r.skipField(t);
                            }
                        }
                    }
                    default -> in.skipField(tag);
                }
            }
            return new CertificateResponse(chain, roots);
        }
    };

    public static final MethodDescriptor<CertificateRequest, CertificateResponse> CREATE_CERTIFICATE =
            MethodDescriptor.<CertificateRequest, CertificateResponse>newBuilder()
                    .setType(MethodDescriptor.MethodType.UNARY)
                    .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "CreateCertificate"))
                    .setRequestMarshaller(REQUEST)
                    .setResponseMarshaller(RESPONSE)
                    .build();

    private abstract static class Codec<T> implements MethodDescriptor.Marshaller<T> {
        abstract void write(T message, CodedOutputStream out) throws IOException;

        abstract T read(CodedInputStream in) throws IOException;

        @Override
        public InputStream stream(T value) {
            try {
                ByteArrayOutputStream bytes = new ByteArrayOutputStream(1024);
                CodedOutputStream out = CodedOutputStream.newInstance(bytes);
                write(value, out);
                out.flush();
                return new ByteArrayInputStream(bytes.toByteArray());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public T parse(InputStream stream) {
            try {
                return read(CodedInputStream.newInstance(stream));
            } catch (IOException e) {
                // gRPC turns this into an INTERNAL status naming the cause
                throw new IllegalArgumentException("malformed " + SERVICE + " message: " + e.getMessage(), e);
            }
        }
    }
}
