package io.zerohop.core.internal.http;

/**
 * The outcome of one JWT check, with the text Envoy's {@code jwt_authn} filter answers it with: google/jwt_verify_lib
 * {@code src/status.cc} {@code getStatusString}, which Envoy's filter writes as the body of its 401 (403 for
 * {@link #JWT_AUDIENCE_NOT_ALLOWED}; envoyproxy/envoy source/extensions/filters/http/jwt_authn/filter.cc
 * {@code Filter::onComplete}). Only the statuses zerohop's checks can reach are listed.
 */
enum JwtStatus {
    OK("OK"),
    JWT_MISSED("Jwt is missing"),
    JWT_NOT_YET_VALID("Jwt not yet valid"),
    JWT_EXPIRED("Jwt is expired"),
    JWT_BAD_FORMAT("Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"),
    JWT_HEADER_BAD_BASE64("Jwt header is an invalid Base64url encoded"),
    JWT_HEADER_BAD_JSON("Jwt header is an invalid JSON"),
    JWT_HEADER_BAD_ALG("Jwt header [alg] field is required and must be a string"),
    JWT_HEADER_NOT_IMPLEMENTED_ALG("Jwt header [alg] is not supported"),
    JWT_HEADER_BAD_KID("Jwt header [kid] field is not a string"),
    JWT_PAYLOAD_BAD_BASE64("Jwt payload is an invalid Base64url encoded"),
    JWT_PAYLOAD_BAD_JSON("Jwt payload is an invalid JSON"),
    JWT_ISS_NOT_STRING("Jwt payload [iss] field is not a string"),
    JWT_SUB_NOT_STRING("Jwt payload [sub] field is not a string"),
    JWT_IAT_NOT_INTEGER("Jwt payload [iat] field is not an integer"),
    JWT_IAT_OUT_OF_RANGE("Jwt payload [iat] field is not a positive 64 bit integer"),
    JWT_NBF_NOT_INTEGER("Jwt payload [nbf] field is not an integer"),
    JWT_NBF_OUT_OF_RANGE("Jwt payload [nbf] field is not a positive 64 bit integer"),
    JWT_EXP_NOT_INTEGER("Jwt payload [exp] field is not an integer"),
    JWT_EXP_OUT_OF_RANGE("Jwt payload [exp] field is not a positive 64 bit integer"),
    JWT_JTI_NOT_STRING("Jwt payload [jti] field is not a string"),
    JWT_AUD_NOT_STRING("Jwt payload [aud] field is not a string or string list"),
    JWT_SIGNATURE_BAD_BASE64("Jwt signature is an invalid Base64url encoded"),
    JWT_ED25519_SIGNATURE_WRONG_LENGTH("Jwt ED25519 signature is wrong length"),
    JWT_UNKNOWN_ISSUER("Jwt issuer is not configured"),
    JWT_AUDIENCE_NOT_ALLOWED("Audiences in Jwt are not allowed"),
    JWT_VERIFICATION_FAIL("Jwt verification fails"),
    JWKS_NO_VALID_KEYS("Jwks doesn't have any valid public key"),
    JWKS_KID_ALG_MISMATCH("Jwks doesn't have key to match kid or alg from Jwt"),
    JWKS_FETCH_FAIL("Jwks remote fetch is failed");

    final String text;

    JwtStatus(String text) {
        this.text = text;
    }
}
