fn main() {
    println!("alpha-tool says hi");
}
