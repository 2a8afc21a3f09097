package io.zerohop.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPInputStream;
import java.util.zip.InflaterInputStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The coding ztunnel's metrics server picks for an {@code Accept-Encoding}: the cases of tower-http 0.7's own tests
 * (tower-rs/tower-http {@code tower-http/src/content_encoding.rs}, module {@code tests}, one row each, named after the
 * test), answered for the codings zerohop writes. Where tower-http built with every coding (ztunnel's
 * {@code compression-full}) answers {@code br} or {@code zstd}, the row gives what tower-http answers without them,
 * which ignores a coding it cannot write: the {@code upstream} column says what ztunnel sends instead.
 */
class ContentCodingTest {

    @ParameterizedTest(name = "{0}: \"{1}\" -> {2}")
    @CsvSource(delimiter = '|', nullValues = "NONE", value = {
        "no_accept_encoding_header | NONE | IDENTITY | identity",
        "accept_encoding_header_single_encoding | gzip | GZIP | gzip",
        "accept_encoding_header_two_encodings | 'gzip,br' | GZIP | br",
        "accept_encoding_header_gzip_x_gzip | 'gzip,x-gzip' | GZIP | gzip",
        "accept_encoding_header_x_gzip_deflate | 'deflate,x-gzip' | GZIP | gzip",
        "accept_encoding_header_three_encodings | 'gzip,deflate,br' | GZIP | br",
        "accept_encoding_header_two_encodings_with_one_qvalue | 'gzip;q=0.5,br' | GZIP | br",
        "accept_encoding_header_three_encodings_with_one_qvalue | 'gzip;q=0.5,deflate,br' | DEFLATE | br",
        "two_accept_encoding_headers_with_one_qvalue (fields joined) | 'gzip;q=0.5, br' | GZIP | br",
        "two_accept_encoding_headers_three_encodings_with_one_qvalue | 'gzip;q=0.5,deflate, br' | DEFLATE | br",
        "three_accept_encoding_headers_with_one_qvalue | 'gzip;q=0.5, deflate, br' | DEFLATE | br",
        "accept_encoding_header_two_encodings_with_two_qvalues 1 | 'gzip;q=0.5,br;q=0.8' | GZIP | br",
        "accept_encoding_header_two_encodings_with_two_qvalues 2 | 'gzip;q=0.8,br;q=0.5' | GZIP | gzip",
        "accept_encoding_header_two_encodings_with_two_qvalues 3 | 'gzip;q=0.995,br;q=0.999' | GZIP | br",
        "accept_encoding_header_three_encodings_with_three_qvalues 1 | 'gzip;q=0.5,deflate;q=0.6,br;q=0.8' | DEFLATE | br",
        "accept_encoding_header_three_encodings_with_three_qvalues 2 | 'gzip;q=0.8,deflate;q=0.6,br;q=0.5' | GZIP | gzip",
        "accept_encoding_header_three_encodings_with_three_qvalues 3 | 'gzip;q=0.6,deflate;q=0.8,br;q=0.5' | DEFLATE | deflate",
        "accept_encoding_header_three_encodings_with_three_qvalues 4 | 'gzip;q=0.995,deflate;q=0.997,br;q=0.999' | DEFLATE | br",
        "accept_encoding_header_invalid_encdoing | 'invalid,gzip' | GZIP | gzip",
        "accept_encoding_header_with_qvalue_zero 1 | 'gzip;q=0' | IDENTITY | identity",
        "accept_encoding_header_with_qvalue_zero 2 | 'gzip;q=0.' | IDENTITY | identity",
        "accept_encoding_header_with_qvalue_zero 3 | 'gzip;q=0,br;q=0.5' | IDENTITY | br",
        "accept_encoding_header_with_uppercase_letters 1 | gZiP | GZIP | gzip",
        "accept_encoding_header_with_uppercase_letters 2 | 'gzip;q=0.5,br;Q=0.8' | GZIP | br",
        "accept_encoding_header_with_allowed_spaces | ' gzip\t; q=0.5 ,\tbr ;\tq=0.8\t' | GZIP | br",
        "accept_encoding_header_with_invalid_spaces 1 | 'gzip;q =0.5' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_spaces 2 | 'gzip;q= 0.5' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_quvalues 1 | 'gzip;q=-0.1' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_quvalues 2 | 'gzip;q=00.5' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_quvalues 3 | 'gzip;q=0.5000' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_quvalues 4 | 'gzip;q=.5' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_quvalues 5 | 'gzip;q=1.01' | IDENTITY | identity",
        "accept_encoding_header_with_invalid_quvalues 6 | 'gzip;q=1.001' | IDENTITY | identity",
        "wildcard_alone_picks_best_supported | '*' | GZIP | zstd",
        "wildcard_q_zero_with_nothing_else_returns_not_satisfiable | '*;q=0' | NONE | 406",
        "wildcard_q_zero_with_gzip_picks_gzip | '*;q=0,gzip' | GZIP | gzip",
        "identity_q_zero_alone_returns_not_satisfiable | 'identity;q=0' | NONE | 406",
        "identity_q_zero_with_gzip_picks_gzip | 'identity;q=0,gzip' | GZIP | gzip",
        "wildcard_q_zero_identity_q_zero_no_compression_returns_not_satisfiable | '*;q=0,identity;q=0' | NONE | 406",
        "wildcard_with_low_qvalue | '*;q=0.5,gzip;q=1' | GZIP | gzip",
        "wildcard_q_zero_with_identity_picks_identity | '*;q=0,identity' | IDENTITY | identity",
        "wildcard_with_partial_server_support_picks_best_available (gzip only there) | '*' | GZIP | gzip",
        "wildcard_q_zero_with_unsupported_encoding_returns_not_satisfiable (gzip only there) | '*;q=0,br' | NONE | 406",
        // Beyond tower-http's tests, from its code: what Prometheus and curl send, and repeated entries.
        "Prometheus's scrape (its default) | gzip | GZIP | gzip",
        "curl --compressed (Debian's) | 'deflate, gzip, br, zstd' | GZIP | zstd",
        "a coding named twice: its highest weight, without a wildcard | 'gzip;q=0, gzip' | GZIP | gzip",
        "with a wildcard the first entry of a coding counts | '*;q=0.1, gzip;q=0, gzip' | DEFLATE | zstd",
        "identity;q=0 then identity: identity still acceptable | 'identity;q=0, identity' | IDENTITY | identity",
        "a * whose weight does not parse is ignored | '*;q=2, identity;q=0' | NONE | 406",
        "an empty field | '' | IDENTITY | identity",
    })
    void negotiatesAsTowerHttp(String test, String acceptEncoding, String expected, String upstream) {
        ContentCoding want = expected == null ? null : ContentCoding.valueOf(expected);
        assertThat(ContentCoding.negotiate(acceptEncoding)).as(test + " (ztunnel: " + upstream + ")").isEqualTo(want);
    }

    /** tower-http's default predicate: 32 bytes and more, and not gRPC, images or server-sent events. */
    @Test
    void compressesWhatTowerHttpsDefaultPredicateCompresses() {
        assertThat(ContentCoding.compressible("text/plain; version=0.0.4; charset=utf-8", 32)).isTrue();
        assertThat(ContentCoding.compressible("application/openmetrics-text; version=1.0.0; charset=utf-8", 31)).isFalse();
        assertThat(ContentCoding.compressible("application/grpc+proto", 1000)).isFalse();
        assertThat(ContentCoding.compressible("image/png", 1000)).isFalse();
        assertThat(ContentCoding.compressible("image/svg+xml", 1000)).isTrue();
        assertThat(ContentCoding.compressible("text/event-stream", 1000)).isFalse();
    }

    @Test
    void encodedBodiesDecodeToTheBody() throws Exception {
        byte[] body = "istio_tcp_connections_opened_total{reporter=\"destination\"} 1\n".repeat(50).getBytes(StandardCharsets.UTF_8);
        assertThat(ContentCoding.IDENTITY.encode(body)).isSameAs(body);
        byte[] gz = ContentCoding.GZIP.encode(body);
        byte[] zz = ContentCoding.DEFLATE.encode(body);
        assertThat(gz.length).isLessThan(body.length / 10);
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
            assertThat(in.readAllBytes()).isEqualTo(body);
        }
        // HTTP's "deflate" is the zlib format (RFC 9110 8.4.1.2), which InflaterInputStream reads by default.
        try (InputStream in = new InflaterInputStream(new ByteArrayInputStream(zz))) {
            assertThat(in.readAllBytes()).isEqualTo(body);
        }
    }
}
