//! Property tests: the parsers accept any text without panicking and keep their promises.

use cococtl_probe::parse::{bool_param, capacity, cmdline, cpuinfo, kernel_version, kmsg, pci};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parsers_never_panic(s in "\\PC{0,200}") {
        let _ = cmdline::get(&s, "iommu");
        let _ = cpuinfo::parse(&s);
        let _ = capacity::get(&s, "sev_es");
        let _ = kmsg::asid_range(&s);
        let _ = kmsg::asid_line(&s);
        let _ = kmsg::tdx_guest_keyids(&s);
        let _ = pci::class(&s);
        let _ = pci::bar_bytes(&s);
        let _ = pci::hex_id(&s);
        let _ = bool_param(&s);
        let _ = kernel_version(&s);
    }

    #[test]
    fn cmdline_last_value_wins(key in "[a-z_]{1,10}", a in "[a-z0-9]{0,5}", b in "[a-z0-9]{0,5}", noise in "[a-z ]{0,20}") {
        let line = format!("{noise} {key}={a} x=y {key}={b}");
        prop_assert_eq!(cmdline::get(&line, &key), Some(b.as_str()));
    }

    #[test]
    fn capacity_reads_back_what_was_written(n in any::<u64>(), name in "[a-z_]{1,8}") {
        prop_assert_eq!(capacity::get(&format!("other 1\n{name} {n}\n"), &name), Some(n));
    }

    #[test]
    fn cpuinfo_flags_round_trip(flags in proptest::collection::btree_set("[a-z0-9_]{1,10}", 0..20)) {
        let text = format!("processor\t: 0\nflags\t\t: {}\n", flags.iter().cloned().collect::<Vec<_>>().join(" "));
        prop_assert_eq!(cpuinfo::parse(&text).flags, flags);
    }

    #[test]
    fn asid_ranges_count_inclusively(a in 1u32..1000, len in 0u32..1000) {
        let b = a + len;
        prop_assert_eq!(kmsg::asid_range(&format!("kvm_amd: SEV-SNP enabled (ASIDs {a} - {b})")), Some(len + 1));
    }

    #[test]
    fn asid_lines_count_inclusively_in_every_state(a in 1u32..1000, len in 0u32..1000, kind in prop::sample::select(vec!["SEV", "SEV-ES", "SEV-SNP"])) {
        let b = a + len;
        let l = kmsg::asid_line(&format!("kvm_amd: {kind} enabled (ASIDs {a} - {b})")).unwrap();
        prop_assert_eq!(l.count, Some(len + 1));
        let u = kmsg::asid_line(&format!("kvm_amd: {kind} unusable (ASIDs {b} - {})", b - 1)).unwrap();
        prop_assert_eq!(u.count, Some(0));
    }

    #[test]
    fn tdx_keyid_ranges_leave_one_for_the_module(a in 1u32..1000, len in 1u32..1000) {
        let line = format!("virt/tdx: BIOS enabled: private KeyID range [{a}, {})", a + len);
        prop_assert_eq!(kmsg::tdx_guest_keyids(&line), Some(len - 1));
    }

    #[test]
    fn resource_sums_nonempty_bars(sizes in proptest::collection::vec(1u64..(1 << 40), 0..6)) {
        let mut start = 0x1000_0000u64;
        let mut text = String::new();
        for s in &sizes {
            text.push_str(&format!("{start:#018x} {:#018x} 0x0000000000040200\n", start + s - 1));
            start += s;
        }
        prop_assert_eq!(pci::bar_bytes(&text), sizes.iter().sum::<u64>());
    }
}
