package io.zerohop.policy.internal;

/** apimachinery's DNS-1123 name rules (k8s.io/apimachinery pkg/util/validation), shared by every check that needs them. */
public final class KubernetesNames {
    private KubernetesNames() {
    }

    /**
     * {@code IsDNS1123Label} ({@code subdomain} false: at most 63 of a-z, 0-9 and '-', starting and ending with a letter
     * or digit) or {@code IsDNS1123Subdomain} (true: such labels joined by '.', at most 253 characters), as a test:
     * length, then one pass over the characters, no regex.
     */
    public static boolean dns1123(String value, boolean subdomain) {
        if (value.isEmpty() || value.length() > (subdomain ? 253 : 63)) {
            return false;
        }
        boolean ok = true;
        char prev = '.';
        for (int i = 0; i < value.length() && ok; i++) {
            char c = value.charAt(i);
            boolean alnum = c >= 'a' && c <= 'z' || c >= '0' && c <= '9';
            if (c == '.' && subdomain) {
                ok = prev != '.' && prev != '-';      // a label ends with a letter or digit
            } else if (c == '-') {
                ok = prev != '.';                     // a label starts with a letter or digit
            } else {
                ok = alnum;
            }
            prev = c;
        }
        return ok && prev != '-' && prev != '.';
    }
}
